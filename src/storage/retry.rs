//! Retries of transient storage failures, for every backend alike.
//!
//! A failure is retried only when the backend classified it as transient
//! ([`StorageErrorKind::Transient`]: timeouts, resets, HTTP 5xx, 429, 423, rate limits, short
//! downloads); everything else (not found, refused credentials, a full quota) fails at once.
//! Waits grow exponentially with jitter, honour the service's `Retry-After`, and stop at the
//! policy's attempt count or time budget, whichever comes first.
//!
//! Retrying is safe because every [`Storage`] operation is idempotent, with one subtlety:
//! a `create` whose first attempt was stored although its answer was lost finds the file
//! there on the next attempt. Then the stored bytes are compared with ours, and equal bytes
//! count as success.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ObjectMeta, Storage, StorageError, StorageErrorKind};

/// How transient failures are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles.
    pub first_delay: Duration,
    /// No single wait is longer (a longer `Retry-After` is cut to this).
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub budget: Duration,
}

impl RetryPolicy {
    /// For a person waiting at a terminal: short waits, about a minute in all.
    #[must_use]
    pub fn interactive() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15),
            budget: Duration::from_mins(1),
        }
    }

    /// For scheduled jobs on flaky networks: 30 s doubling to 10 min, 5 attempts.
    #[must_use]
    pub fn background() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_mins(10),
            budget: Duration::from_mins(30),
        }
    }

    /// No retries at all.
    #[must_use]
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            budget: Duration::ZERO,
        }
    }

    /// The wait after failed attempt `attempt` (1-based): exponential, with jitter taking
    /// it down by up to half, so that many clients do not retry in step.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self.first_delay.saturating_mul(1u32 << (attempt - 1).min(20));
        let base = exponential.min(self.max_delay);
        let jittered = base.mul_f64(1.0 - jitter() / 2.0);
        match retry_after {
            Some(asked) => asked.min(self.max_delay).max(jittered),
            None => jittered,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::interactive()
    }
}

/// Marks a transient error that is returned after retries as such.
fn give_up(mut error: StorageError, attempts: u32) -> StorageError {
    if error.is_transient() && attempts > 1 {
        error.message = format!("{} (gave up after {attempts} attempts)", error.message);
    }
    error
}

/// A uniformly random number in `[0, 1)` from the OS (zero if it fails: no jitter then).
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

/// A retry about to happen, for progress displays.
#[derive(Clone, Debug)]
pub struct RetryNotice {
    /// The operation that failed: read, write, list, …
    pub operation: &'static str,
    /// The object.
    pub path: String,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// How long until the next attempt.
    pub wait: Duration,
    /// Why the attempt failed, in one line.
    pub reason: String,
}

/// Told about every retry before its wait.
pub type RetryObserver = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// Storage that retries the transient failures of the storage it wraps.
pub struct RetryingStorage {
    inner: Arc<dyn Storage>,
    policy: RetryPolicy,
    observer: Option<RetryObserver>,
}

impl RetryingStorage {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn Storage>, policy: RetryPolicy) -> RetryingStorage {
        RetryingStorage { inner, policy, observer: None }
    }

    /// Tells `observer` about every retry before its wait.
    #[must_use]
    pub fn observed_by(mut self, observer: RetryObserver) -> RetryingStorage {
        self.observer = Some(observer);
        self
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy gives up. `attempt`
    /// is told whether an earlier attempt failed transiently.
    fn run<T>(&self, mut attempt: impl FnMut(bool) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let started = Instant::now();
        let mut failed_before = false;
        for number in 1.. {
            let error = match attempt(failed_before) {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if !error.is_transient() || number >= self.policy.max_attempts {
                return Err(give_up(error, number));
            }
            let wait = self.policy.delay(number, error.retry_after);
            if started.elapsed() + wait > self.policy.budget {
                return Err(give_up(error, number));
            }
            tracing::warn!(operation = error.operation, path = %error.path, attempt = number, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying: {}", error.message);
            if let Some(observer) = &self.observer {
                observer(&RetryNotice {
                    operation: error.operation,
                    path: error.path.clone(),
                    attempt: number,
                    max_attempts: self.policy.max_attempts,
                    wait,
                    reason: error.message.clone(),
                });
            }
            std::thread::sleep(wait);
            failed_before = true;
        }
        unreachable!("the loop returns")
    }

    /// After a lost answer: is what is stored at `path` exactly `bytes`?
    fn holds(&self, path: &str, bytes: &[u8]) -> Result<bool, StorageError> {
        let stored = self.inner.read(path, bytes.len() as u64);
        match stored {
            Ok(stored) => Ok(stored == bytes),
            Err(e) if e.kind == StorageErrorKind::TooLarge => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Storage for RetryingStorage {
    fn location(&self) -> &str {
        self.inner.location()
    }

    fn create(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.run(|failed_before| match self.inner.create(path, bytes.clone()) {
            Err(e) if e.kind == StorageErrorKind::AlreadyExists && failed_before => {
                if self.holds(path, &bytes)? { Ok(()) } else { Err(e) }
            }
            other => other,
        })
    }

    fn spool_dir(&self) -> &Path {
        self.inner.spool_dir()
    }

    fn create_from_spool(&self, path: &str, spool_file: &Path) -> Result<(), StorageError> {
        // Callers treat `AlreadyExists` of a spooled (content-addressed) file as stored.
        self.run(|_| self.inner.create_from_spool(path, spool_file))
    }

    fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>, StorageError> {
        self.run(|_| self.inner.read(path, max_len))
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.run(|_| self.inner.read_range(path, offset, len))
    }

    fn len(&self, path: &str) -> Result<u64, StorageError> {
        self.run(|_| self.inner.len(path))
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.run(|_| self.inner.remove(path))
    }

    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        self.run(|_| self.inner.list(dir))
    }

    fn connections(&self) -> usize {
        self.inner.connections()
    }

    fn listing_lag(&self) -> std::time::Duration {
        self.inner.listing_lag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy::background();
        for attempt in 1..=8 {
            let delay = policy.delay(attempt, None);
            let full = (Duration::from_secs(30) * (1 << (attempt - 1))).min(Duration::from_mins(10));
            assert!(delay <= full && delay >= full / 2, "attempt {attempt}: {delay:?} vs {full:?}");
        }
    }

    #[test]
    fn retry_after_is_honoured_within_the_cap() {
        let policy = RetryPolicy::interactive();
        assert_eq!(policy.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(policy.delay(1, Some(Duration::from_hours(1))), policy.max_delay);
    }
}

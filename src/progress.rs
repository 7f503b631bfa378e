//! Progress reporting and cancellation: handles the caller passes into every long operation.
//! The library never prints and never installs signal handlers; it reports to a [`Progress`]
//! and checks a [`CancelToken`] between units of work.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Which operation a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading sources and storing what changed.
    Backup,
    /// Writing files from a snapshot.
    Restore,
    /// Re-reading restored files to compare them with the snapshot.
    Verify,
    /// Reading packs to check every blob (`check --read-data`).
    Check,
}

/// A point-in-time view of an operation's progress.
#[derive(Clone, Debug)]
pub struct ProgressReport {
    /// The operation.
    pub phase: Phase,
    /// Files finished.
    pub files_done: u64,
    /// Files in all (grows while `totals_final` is false).
    pub files_total: u64,
    /// Bytes finished.
    pub bytes_done: u64,
    /// Bytes in all (grows while `totals_final` is false).
    pub bytes_total: u64,
    /// Whether the totals are complete.
    pub totals_final: bool,
    /// A file being worked on now.
    pub current_path: Option<PathBuf>,
    /// Time since the operation started.
    pub elapsed: Duration,
    /// Estimated time left, once the totals are final and some bytes are done.
    pub eta: Option<Duration>,
}

/// A problem with one source entry; the backup continues without it.
#[derive(Clone, Debug)]
pub struct SourceWarning {
    /// The entry.
    pub path: PathBuf,
    /// What went wrong, in one line.
    pub message: String,
}

/// Receives progress of long operations. Implementations must be cheap: `report` is called
/// from a timer thread a few times a second, `warning` from worker threads.
pub trait Progress: Send + Sync {
    /// The latest state of the operation.
    fn report(&self, _report: &ProgressReport) {}
    /// A source entry was skipped.
    fn warning(&self, _warning: &SourceWarning) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Cancels a running operation from another thread. Cancelling leaves the repository as a
/// crash would at that point: valid, with what was already stored reusable by a re-run.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether cancellation was requested.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Error::Cancelled)` once cancellation was requested: call between units of work.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() { Err(Error::Cancelled) } else { Ok(()) }
    }
}

/// Counters shared by an operation's threads, turned into [`ProgressReport`]s by a [`Ticker`].
pub(crate) struct Meter {
    phase: Phase,
    started: Instant,
    files_done: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    totals_final: AtomicBool,
    current_path: Mutex<Option<PathBuf>>,
}

impl Meter {
    pub(crate) fn new(phase: Phase) -> Self {
        Self {
            phase,
            started: Instant::now(),
            files_done: AtomicU64::new(0),
            files_total: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            totals_final: AtomicBool::new(false),
            current_path: Mutex::new(None),
        }
    }

    pub(crate) fn add_done(&self, files: u64, bytes: u64) {
        self.files_done.fetch_add(files, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn add_total(&self, files: u64, bytes: u64) {
        self.files_total.fetch_add(files, Ordering::Relaxed);
        self.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn finish_totals(&self) {
        self.totals_final.store(true, Ordering::Relaxed);
    }

    pub(crate) fn set_current(&self, path: &Path) {
        *self.current_path.lock().unwrap_or_else(PoisonError::into_inner) = Some(path.to_path_buf());
    }

    pub(crate) fn report(&self) -> ProgressReport {
        let files_done = self.files_done.load(Ordering::Relaxed);
        let bytes_done = self.bytes_done.load(Ordering::Relaxed);
        let files_total = self.files_total.load(Ordering::Relaxed).max(files_done);
        let bytes_total = self.bytes_total.load(Ordering::Relaxed).max(bytes_done);
        let totals_final = self.totals_final.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        let eta = (totals_final && bytes_done > 0).then(|| {
            let left = (bytes_total - bytes_done) as f64 / bytes_done as f64;
            elapsed.mul_f64(left)
        });
        ProgressReport {
            phase: self.phase,
            files_done,
            files_total,
            bytes_done,
            bytes_total,
            totals_final,
            current_path: self.current_path.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            elapsed,
            eta,
        }
    }
}

/// How often progress is reported.
const TICK: Duration = Duration::from_millis(200);

/// Runs `work` while a helper thread calls [`Progress::report`] every [`TICK`]; reports the
/// final state once more when `work` returns.
pub(crate) fn with_ticker<R>(meter: &Meter, progress: &dyn Progress, work: impl FnOnce() -> R) -> R {
    let stop = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let ticker = scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(TICK);
                if !stop.load(Ordering::Relaxed) {
                    progress.report(&meter.report());
                }
            }
        });
        let result = work();
        stop.store(true, Ordering::Relaxed);
        ticker.thread().unpark();
        result
    });
    progress.report(&meter.report());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_appears_once_totals_are_final() {
        let meter = Meter::new(Phase::Backup);
        meter.add_total(2, 100);
        meter.add_done(1, 50);
        assert!(meter.report().eta.is_none());
        meter.finish_totals();
        let report = meter.report();
        assert!(report.eta.is_some());
        assert_eq!((report.files_done, report.files_total), (1, 2));
    }

    #[test]
    fn cancel_token_is_shared_between_clones() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(token.check().is_ok());
        clone.cancel();
        assert!(matches!(token.check(), Err(Error::Cancelled)));
    }
}

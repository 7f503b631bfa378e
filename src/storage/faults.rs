//! Seeded fault injection, for tests: a [`Storage`] wrapper that makes the storage below it
//! misbehave the ways real services do (../SPEC.md §12.5 lists what cairn promises then).
//!
//! This is a test instrument, not a backend: it is only ever stacked by tests, or by the
//! `cairn` binary when `CAIRN_TEST_FAULTS` is set. A plan is a list of rules, each naming a
//! fault, the operations it applies to, and when it fires:
//!
//! ```text
//! PLAN  := ITEM (';' ITEM)*
//! ITEM  := 'seed=' u64 | FAULT '@' OP ['/' PREFIX] [':' WHEN]
//! FAULT := 'transient' | 'permanent' | 'full' | 'unauthorized' | 'truncate' | 'bitflip'
//!        | 'drop-write' | 'error-after-write' | 'delay=' MILLISECONDS
//!        | 'list-missing' | 'list-duplicate' | 'list-short' | 'list-lag=' MILLISECONDS
//! OP    := 'read' | 'write' | 'list' | 'stat' | 'remove' | 'any'
//! WHEN  := 'nth=' N      (the Nth matching operation only, 1-based)
//!        | 'first=' N    (the first N matching operations)
//!        | 'p=' FLOAT    (each matching operation with this probability, from the seed)
//!        | 'always'      (the default)
//! ```
//!
//! For example `seed=7;transient@write:p=0.2;bitflip@read/data:nth=3`. `read` covers whole
//! and ranged reads; `write` covers `create` and `create_from_spool`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{ObjectMeta, Storage, StorageError, StorageErrorKind};

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Fails with a transient error, before doing anything.
    Transient,
    /// Fails with a permanent error, before doing anything.
    Permanent,
    /// Fails as a full storage.
    Full,
    /// Fails as refused credentials.
    Unauthorized,
    /// A read returns its bytes minus the last one (a broken backend's short read).
    Truncate,
    /// A read returns its bytes with one bit flipped (a bad disk or a bad proxy).
    BitFlip,
    /// A write answers success without storing anything (a lying backend).
    DropWrite,
    /// A write stores the file, then fails with a transient error (a lost answer).
    ErrorAfterWrite,
    /// The operation waits this long first.
    Delay(Duration),
    /// A listing leaves out one entry (an eventually consistent listing).
    ListMissing,
    /// A listing names one entry twice (a paging bug).
    ListDuplicate,
    /// A listing returns only its first half (a page lost).
    ListShort,
    /// A listing leaves out the files this storage created less than this long ago, and
    /// still names those it removed less than this long ago (a search index that lags behind
    /// writes, as Google Drive's may).
    ListLag(Duration),
}

/// Which operations a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `read` and `read_range`.
    Read,
    /// `create` and `create_from_spool`.
    Write,
    /// `list`.
    List,
    /// `len`.
    Stat,
    /// `remove`.
    Remove,
    /// Every operation.
    Any,
}

/// When a rule fires, among the operations it matches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    /// The Nth match only (1-based).
    Nth(u64),
    /// The first N matches.
    First(u64),
    /// Each match with this probability, drawn from the plan's seed.
    Probability(f64),
    /// Every match.
    Always,
}

/// One rule of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// What goes wrong.
    pub fault: Fault,
    /// Which operations.
    pub operation: Operation,
    /// Only objects whose path starts with this.
    pub prefix: String,
    /// When.
    pub when: When,
}

/// A seeded set of rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// Seeds the probabilities and the choice of bit or entry.
    pub seed: u64,
    /// The rules, tried in order; the first that fires wins.
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// Parses the text form (module documentation).
    pub fn parse(text: &str) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan::default();
        for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(seed) = item.strip_prefix("seed=") {
                plan.seed = seed.parse().map_err(|_| format!("bad seed {seed:?}"))?;
                continue;
            }
            plan.rules.push(parse_rule(item)?);
        }
        Ok(plan)
    }
}

fn parse_rule(item: &str) -> Result<FaultRule, String> {
    let (fault, rest) = item.split_once('@').ok_or_else(|| format!("{item:?}: expected FAULT@OP"))?;
    let (target, when) = rest.split_once(':').unwrap_or((rest, "always"));
    let (operation, prefix) = target.split_once('/').unwrap_or((target, ""));
    let fault = match fault {
        "transient" => Fault::Transient,
        "permanent" => Fault::Permanent,
        "full" => Fault::Full,
        "unauthorized" => Fault::Unauthorized,
        "truncate" => Fault::Truncate,
        "bitflip" => Fault::BitFlip,
        "drop-write" => Fault::DropWrite,
        "error-after-write" => Fault::ErrorAfterWrite,
        "list-missing" => Fault::ListMissing,
        "list-duplicate" => Fault::ListDuplicate,
        "list-short" => Fault::ListShort,
        other => {
            let millis = |prefix: &str| {
                other.strip_prefix(prefix).and_then(|ms| ms.parse().ok()).map(Duration::from_millis)
            };
            match (millis("delay="), millis("list-lag=")) {
                (Some(wait), _) => Fault::Delay(wait),
                (_, Some(lag)) => Fault::ListLag(lag),
                _ => return Err(format!("unknown fault {other:?}")),
            }
        }
    };
    let operation = match operation {
        "read" => Operation::Read,
        "write" => Operation::Write,
        "list" => Operation::List,
        "stat" => Operation::Stat,
        "remove" => Operation::Remove,
        "any" => Operation::Any,
        other => return Err(format!("unknown operation {other:?}")),
    };
    let number = |text: &str| text.parse::<u64>().map_err(|_| format!("bad count {text:?}"));
    let when = if when == "always" {
        When::Always
    } else if let Some(n) = when.strip_prefix("nth=") {
        When::Nth(number(n)?)
    } else if let Some(n) = when.strip_prefix("first=") {
        When::First(number(n)?)
    } else if let Some(p) = when.strip_prefix("p=") {
        let p: f64 = p.parse().map_err(|_| format!("bad probability {p:?}"))?;
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("probability {p} is not within 0..=1"));
        }
        When::Probability(p)
    } else {
        return Err(format!("unknown condition {when:?}"));
    };
    Ok(FaultRule { fault, operation, prefix: prefix.to_string(), when })
}

/// A storage that misbehaves by plan.
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    plan: FaultPlan,
    /// Matches so far, per rule.
    counts: Vec<AtomicU64>,
    random: Mutex<SplitMix64>,
    /// Faults injected so far.
    injected: AtomicU64,
    /// Files created or removed through this storage, with when, for [`Fault::ListLag`].
    changes: Mutex<Vec<Change>>,
}

/// A file created or removed through a [`FaultyStorage`].
struct Change {
    at: std::time::Instant,
    /// The file as listed before its removal; `None` for a creation.
    removed: Option<ObjectMeta>,
    path: String,
}

impl FaultyStorage {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn Storage>, plan: FaultPlan) -> FaultyStorage {
        let counts = plan.rules.iter().map(|_| AtomicU64::new(0)).collect();
        let random = Mutex::new(SplitMix64(plan.seed));
        FaultyStorage { inner, plan, counts, random, injected: AtomicU64::new(0), changes: Mutex::default() }
    }

    /// How many faults have been injected.
    #[must_use]
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// The longest [`Fault::ListLag`] of the plan: creations and removals are recorded for
    /// that long.
    fn longest_lag(&self) -> Option<Duration> {
        self.plan
            .rules
            .iter()
            .filter_map(|rule| match rule.fault {
                Fault::ListLag(lag) => Some(lag),
                _ => None,
            })
            .max()
    }

    fn lags(&self) -> bool {
        self.longest_lag().is_some()
    }

    fn record(&self, path: &str, removed: Option<ObjectMeta>) {
        let longest = self.longest_lag().unwrap_or_default();
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        changes.retain(|change| change.at.elapsed() < longest);
        changes.push(Change { at: std::time::Instant::now(), removed, path: path.to_string() });
    }

    /// `entries` as a listing of `dir` lagging `lag` behind this storage's changes shows them.
    fn lagging(&self, dir: &str, lag: Duration, mut entries: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
        let changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        for change in changes.iter().filter(|c| c.at.elapsed() < lag && c.path.starts_with(dir)) {
            match &change.removed {
                None => entries.retain(|entry| entry.path != change.path),
                Some(meta) => {
                    if !entries.iter().any(|entry| entry.path == meta.path) {
                        entries.push(meta.clone());
                    }
                }
            }
        }
        entries
    }

    fn next_random(&self) -> u64 {
        self.random.lock().unwrap_or_else(PoisonError::into_inner).next()
    }

    /// The fault to inject into this operation, if any; applies delays itself.
    fn fault(&self, operation: Operation, path: &str, applicable: &[Fault]) -> Option<Fault> {
        for (rule, count) in self.plan.rules.iter().zip(&self.counts) {
            let op_matches = rule.operation == Operation::Any || rule.operation == operation;
            let kind_matches = matches!(rule.fault, Fault::Delay(_))
                || (operation == Operation::List && matches!(rule.fault, Fault::ListLag(_)))
                || matches!(
                    rule.fault,
                    Fault::Transient | Fault::Permanent | Fault::Full | Fault::Unauthorized
                )
                || applicable.contains(&rule.fault);
            if !op_matches || !kind_matches || !path.starts_with(&rule.prefix) {
                continue;
            }
            let n = count.fetch_add(1, Ordering::Relaxed) + 1;
            let fires = match rule.when {
                When::Nth(k) => n == k,
                When::First(k) => n <= k,
                When::Probability(p) => (self.next_random() >> 11) as f64 / (1u64 << 53) as f64 <= p,
                When::Always => true,
            };
            if !fires {
                continue;
            }
            self.injected.fetch_add(1, Ordering::Relaxed);
            if let Fault::Delay(wait) = rule.fault {
                std::thread::sleep(wait);
                continue;
            }
            return Some(rule.fault);
        }
        None
    }

    fn error(&self, fault: Fault, operation: &'static str, path: &str) -> StorageError {
        let (kind, message) = match fault {
            Fault::Permanent => (StorageErrorKind::Other, "injected permanent failure"),
            Fault::Full => (StorageErrorKind::StorageFull, "injected: no space left"),
            Fault::Unauthorized => (StorageErrorKind::Unauthorized, "injected: HTTP 401"),
            _ => (StorageErrorKind::Transient, "injected transient failure (connection reset)"),
        };
        StorageError::new(kind, operation, self.inner.location(), path, message)
    }

    fn damage(&self, fault: Option<Fault>, mut bytes: Vec<u8>) -> Vec<u8> {
        match fault {
            Some(Fault::Truncate) => {
                bytes.pop();
            }
            Some(Fault::BitFlip) if !bytes.is_empty() => {
                let bit = self.next_random() % (bytes.len() as u64 * 8);
                bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            }
            _ => {}
        }
        bytes
    }

    fn read_with(
        &self,
        path: &str,
        read: impl FnOnce() -> Result<Vec<u8>, StorageError>,
    ) -> Result<Vec<u8>, StorageError> {
        let fault = self.fault(Operation::Read, path, &[Fault::Truncate, Fault::BitFlip]);
        if let Some(f @ (Fault::Transient | Fault::Permanent | Fault::Full | Fault::Unauthorized)) = fault {
            return Err(self.error(f, "read", path));
        }
        Ok(self.damage(fault, read()?))
    }

    fn write_with(
        &self,
        path: &str,
        write: impl FnOnce() -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        match self.fault(Operation::Write, path, &[Fault::DropWrite, Fault::ErrorAfterWrite]) {
            None => write(),
            Some(Fault::DropWrite) => Ok(()),
            Some(Fault::ErrorAfterWrite) => {
                write()?;
                Err(self.error(Fault::Transient, "write", path))
            }
            Some(f) => Err(self.error(f, "write", path)),
        }
    }

    fn plain<T>(
        &self,
        operation: Operation,
        name: &'static str,
        path: &str,
        run: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self.fault(operation, path, &[]) {
            Some(f) => Err(self.error(f, name, path)),
            None => run(),
        }
    }
}

impl Storage for FaultyStorage {
    fn location(&self) -> &str {
        self.inner.location()
    }

    fn create(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.write_with(path, || self.inner.create(path, bytes))?;
        if self.lags() {
            self.record(path, None);
        }
        Ok(())
    }

    fn spool_dir(&self) -> &Path {
        self.inner.spool_dir()
    }

    fn create_from_spool(&self, path: &str, spool_file: &Path) -> Result<(), StorageError> {
        let outcome = self.write_with(path, || self.inner.create_from_spool(path, spool_file));
        if outcome.is_ok() {
            // A dropped write still consumes the spool file, as a real upload would.
            let _ = std::fs::remove_file(spool_file);
            if self.lags() {
                self.record(path, None);
            }
        }
        outcome
    }

    fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>, StorageError> {
        self.read_with(path, || self.inner.read(path, max_len))
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.read_with(path, || self.inner.read_range(path, offset, len))
    }

    fn len(&self, path: &str) -> Result<u64, StorageError> {
        self.plain(Operation::Stat, "stat", path, || self.inner.len(path))
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        let before = if self.lags() { self.inner.len(path).ok() } else { None };
        self.plain(Operation::Remove, "delete", path, || self.inner.remove(path))?;
        if let Some(len) = before {
            self.record(path, Some(ObjectMeta { path: path.to_string(), len }));
        }
        Ok(())
    }

    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let fault =
            self.fault(Operation::List, dir, &[Fault::ListMissing, Fault::ListDuplicate, Fault::ListShort]);
        if let Some(f @ (Fault::Transient | Fault::Permanent | Fault::Full | Fault::Unauthorized)) = fault {
            return Err(self.error(f, "list", dir));
        }
        let mut entries = self.inner.list(dir)?;
        if let Some(Fault::ListLag(lag)) = fault {
            return Ok(self.lagging(dir, lag, entries));
        }
        if entries.is_empty() {
            return Ok(entries);
        }
        let pick = usize::try_from(self.next_random() % entries.len() as u64).unwrap_or(0);
        match fault {
            Some(Fault::ListMissing) => {
                entries.remove(pick);
            }
            Some(Fault::ListDuplicate) => entries.push(entries[pick].clone()),
            Some(Fault::ListShort) => entries.truncate(entries.len() / 2),
            _ => {}
        }
        Ok(entries)
    }

    fn connections(&self) -> usize {
        self.inner.connections()
    }

    fn listing_lag(&self) -> std::time::Duration {
        self.inner.listing_lag()
    }
}

/// A small seeded generator (SplitMix64): fault plans must replay exactly from their seed,
/// across platforms and crate versions, which a general-purpose RNG crate does not promise.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plans() {
        let plan =
            FaultPlan::parse("seed=7; transient@write:p=0.2; bitflip@read/data:nth=3; delay=50@any").unwrap();
        assert_eq!(plan.seed, 7);
        assert_eq!(
            plan.rules[1],
            FaultRule {
                fault: Fault::BitFlip,
                operation: Operation::Read,
                prefix: "data".into(),
                when: When::Nth(3)
            }
        );
        assert_eq!(plan.rules[2].fault, Fault::Delay(Duration::from_millis(50)));
        let lagging = FaultPlan::parse("list-lag=300@list").unwrap();
        assert_eq!(lagging.rules[0].fault, Fault::ListLag(Duration::from_millis(300)));
        assert_eq!(plan.rules[2].when, When::Always);
        for bad in ["oops@read", "transient@nowhere", "transient@read:p=2", "transient@read:nth=x", "seed=-1"]
        {
            assert!(FaultPlan::parse(bad).is_err(), "{bad}");
        }
    }
}

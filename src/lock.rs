//! Repository locks (SPEC §10.4, §12): who is using the repository, so that `prune` never
//! removes data an operation in progress may still use.
//!
//! The design keeps apps from ever waiting on a lock:
//! * Operations that read or add data (backup, restore, check, …) take a *shared* lock. They
//!   never wait for anything and never look at other locks.
//! * Operations that remove data (forget, prune, repair) take an *exclusive* lock, which only
//!   excludes each other. `prune` additionally deletes nothing while any shared lock is live:
//!   it stops and says so, and the next run does the work.
//! * Every holder rewrites its lock every [`REFRESH_EVERY`]. A lock not refreshed for
//!   [`STALE_AFTER`] is stale, as is a lock of a process that no longer runs on this host;
//!   stale locks are ignored, so a crashed app never blocks anyone.
//! * A holder that finds it could not refresh for [`VALID_FOR`] (the device slept, the
//!   storage was unreachable) must assume others now see its lock as stale and may have
//!   pruned: it stops before writing anything that could refer to removed data
//!   ([`LockGuard::check`]). The gap between [`VALID_FOR`] and [`STALE_AFTER`] absorbs clock
//!   differences between devices.
//!
//! Times are wall-clock (`SystemTime`), which, unlike a monotonic clock, keeps counting while
//! a phone or laptop sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use cairn_format::header::FileKind;
use cairn_format::id::ObjectId;
use cairn_format::lock::{Lock, LockKind, SESSION_LEN};
use crossbeam_channel::{Receiver, Sender, bounded};

use crate::error::{Damage, Error, ObjectKind, Result};
use crate::layout;
use crate::repository::Repository;
use crate::seal::{SealedFile, Sealer};
use crate::storage::{Storage, StorageErrorKind};

/// How often a holder rewrites its lock.
pub const REFRESH_EVERY: Duration = Duration::from_mins(5);
/// A lock not refreshed for this long is stale: others ignore it.
pub const STALE_AFTER: Duration = Duration::from_mins(30);
/// A holder that has not refreshed its lock for this long stops trusting it.
pub const VALID_FOR: Duration = Duration::from_mins(15);
/// How often the refresher looks at the wall clock (a sleeping device's timers do not fire
/// on time, so it polls rather than waiting [`REFRESH_EVERY`] at once).
const POLL: Duration = Duration::from_secs(10);

/// A lock file found in the repository: its id and what it says, or why it cannot be read.
pub(crate) struct FoundLock {
    pub(crate) id: ObjectId,
    pub(crate) lock: std::result::Result<Lock, Error>,
}

impl FoundLock {
    /// Whether the lock still counts. Unreadable lock files count (they may come from a newer
    /// cairn): `cairn unlock` removes them.
    pub(crate) fn is_live(&self, now: SystemTime) -> bool {
        self.lock.as_ref().map_or(true, |lock| !is_stale(lock, now))
    }

    /// Who holds it, for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.lock {
            Ok(lock) => describe(lock),
            Err(e) => format!("an unreadable lock file {} ({e})", self.id.short()),
        }
    }
}

/// Who holds `lock`, for messages.
pub(crate) fn describe(lock: &Lock) -> String {
    format!(
        "{} on {} (pid {}, user {}, since {})",
        lock.operation,
        lock.hostname,
        lock.pid,
        lock.username,
        crate::clock::rfc3339(lock.created)
    )
}

/// Whether `lock` no longer counts at `now`: not refreshed for [`STALE_AFTER`], or held by a
/// process of this host that no longer runs.
pub(crate) fn is_stale(lock: &Lock, now: SystemTime) -> bool {
    let refreshed = crate::clock::system_time(lock.refreshed);
    let old = now.duration_since(refreshed).is_ok_and(|age| age > STALE_AFTER);
    old || (lock.hostname == crate::clock::hostname() && !process_runs(lock.pid))
}

/// Whether a process with this id runs on this host. Answers `true` where it cannot tell
/// (no `/proc`), so only the age rule applies there.
fn process_runs(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Every lock file in the repository. A file that vanishes between listing and reading was
/// refreshed or released and is left out; storage failures are errors.
pub(crate) fn list_locks(repo: &Repository) -> Result<Vec<FoundLock>> {
    let mut found = Vec::new();
    for id in repo.list(FileKind::Lock)? {
        let lock = repo
            .read_file(SealedFile::Lock, &id)
            .and_then(|body| Lock::decode(&body).map_err(|e| Error::from_format(ObjectKind::Lock, id, e)));
        match lock {
            Err(Error::Corrupt { damage: Damage::Missing, .. }) => {}
            Err(e @ Error::Storage(_)) => return Err(e),
            lock => found.push(FoundLock { id, lock }),
        }
    }
    Ok(found)
}

/// Live locks of other sessions.
pub(crate) fn live_locks_except(
    repo: &Repository,
    session: Option<&[u8; SESSION_LEN]>,
) -> Result<Vec<FoundLock>> {
    let now = SystemTime::now();
    Ok(list_locks(repo)?
        .into_iter()
        .filter(|found| found.is_live(now))
        .filter(|found| !matches!((&found.lock, session), (Ok(lock), Some(s)) if &lock.session == s))
        .collect())
}

/// What a lock's holder keeps between refreshes.
struct Held {
    lock: Lock,
    path: String,
    /// Wall-clock time of the last lock file that was written durably.
    written_at: SystemTime,
}

/// State shared with the refresher thread.
struct Shared {
    storage: Arc<dyn Storage>,
    sealer: Sealer,
    held: Mutex<Held>,
    /// Set once a refresh came too late or failed for [`VALID_FOR`]; never cleared.
    lost: AtomicBool,
}

impl Shared {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a new lock file with a fresh `refreshed` time, then removes the previous one.
    /// A refresh that comes more than [`VALID_FOR`] after the previous one marks the lock
    /// lost: others may have seen it as stale in between.
    fn refresh(&self) {
        let now = SystemTime::now();
        let mut held = self.held();
        if now.duration_since(held.written_at).is_ok_and(|gap| gap > VALID_FOR) {
            self.lost.store(true, Ordering::SeqCst);
        }
        let mut lock = held.lock.clone();
        lock.refreshed = crate::clock::timestamp(now);
        match write_lock(self.storage.as_ref(), &self.sealer, &lock) {
            Ok(path) => {
                let old = std::mem::replace(&mut held.path, path);
                held.lock = lock;
                held.written_at = now;
                if let Err(e) = self.storage.remove(&old) {
                    tracing::debug!(error = %e, "could not remove the previous lock file");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not refresh the repository lock"),
        }
    }
}

/// A lock held by this process: refreshed in the background, removed on drop.
pub(crate) struct LockGuard {
    shared: Arc<Shared>,
    stop: Option<Sender<()>>,
    refresher: Option<std::thread::JoinHandle<()>>,
}

impl LockGuard {
    /// Takes a shared lock: never waits, never fails because of other locks.
    pub(crate) fn shared(repo: &Repository, operation: &str) -> Result<LockGuard> {
        LockGuard::create(repo, LockKind::Shared, operation)
    }

    /// A shared lock for an operation that only reads: if the repository cannot be written
    /// (read-only media), the operation goes on without one, with a warning.
    pub(crate) fn shared_if_writable(repo: &Repository, operation: &str) -> Option<LockGuard> {
        match LockGuard::shared(repo, operation) {
            Ok(guard) => Some(guard),
            Err(e) => {
                repo.warn(&format!("could not create a lock, going on without one: {e}"));
                None
            }
        }
    }

    /// Takes the exclusive lock, or fails with [`Error::Locked`] naming the live exclusive
    /// lock (or unreadable lock file) in the way. Two processes taking it at once may both
    /// fail; they never both succeed. On storage whose listings lag behind writes, it waits
    /// out the lag between writing its lock and listing the others (SPEC §12.2), so that
    /// every lock written before its own is listed.
    pub(crate) fn exclusive(repo: &Repository, operation: &str) -> Result<LockGuard> {
        let guard = LockGuard::create(repo, LockKind::Exclusive, operation)?;
        std::thread::sleep(repo.storage().listing_lag());
        let others = live_locks_except(repo, Some(&guard.session()))?;
        let in_the_way = others
            .iter()
            .find(|found| found.lock.as_ref().map_or(true, |lock| lock.kind == LockKind::Exclusive));
        if let Some(found) = in_the_way {
            return Err(Error::Locked { what: format!("cannot {operation}"), holder: found.describe() });
        }
        crate::crashpoint::hit("lock-exclusive-acquired");
        Ok(guard)
    }

    fn create(repo: &Repository, kind: LockKind, operation: &str) -> Result<LockGuard> {
        let now = SystemTime::now();
        let mut session = [0u8; SESSION_LEN];
        crate::crypto::random_bytes(&mut session)
            .map_err(|e| Error::system("random number generation", e))?;
        let lock = Lock {
            kind,
            session,
            created: crate::clock::timestamp(now),
            refreshed: crate::clock::timestamp(now),
            pid: std::process::id(),
            hostname: crate::clock::hostname(),
            username: crate::clock::username(),
            operation: operation.to_string(),
        };
        let sealer = repo.duplicate_sealer();
        let path = write_lock(repo.storage(), &sealer, &lock)?;
        let shared = Arc::new(Shared {
            storage: repo.storage_handle(),
            sealer,
            held: Mutex::new(Held { lock, path, written_at: now }),
            lost: AtomicBool::new(false),
        });
        let (stop, stopped) = bounded(1);
        let refresher = std::thread::Builder::new()
            .name("cairn-lock".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || refresh_until_stopped(&shared, &stopped)
            })
            .map_err(|e| Error::system("starting the lock refresher", e))?;
        Ok(LockGuard { shared, stop: Some(stop), refresher: Some(refresher) })
    }

    /// The session id of this lock.
    pub(crate) fn session(&self) -> [u8; SESSION_LEN] {
        self.shared.held().lock.session
    }

    /// Fails with [`Error::LockLost`] if the lock may have looked stale to others at some
    /// point: called before writing anything (an index, a snapshot) that could refer to data
    /// a prune removed meanwhile.
    pub(crate) fn check(&self) -> Result<()> {
        let written_at = self.shared.held().written_at;
        let gap = SystemTime::now().duration_since(written_at).unwrap_or_default();
        if self.shared.lost.load(Ordering::SeqCst) || gap > VALID_FOR {
            self.shared.lost.store(true, Ordering::SeqCst);
            return Err(Error::LockLost {
                reason: format!(
                    "the repository lock was not refreshed for more than {} minutes (did the device sleep, or the storage become unreachable?), so a prune may have run meanwhile",
                    VALID_FOR.as_secs() / 60
                ),
            });
        }
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(refresher) = self.refresher.take() {
            let _ = refresher.join();
        }
        let path = self.shared.held().path.clone();
        if let Err(e) = self.shared.storage.remove(&path) {
            tracing::warn!(error = %e, "could not remove the repository lock; `cairn unlock` removes it once stale");
        }
    }
}

fn refresh_until_stopped(shared: &Shared, stopped: &Receiver<()>) {
    loop {
        match stopped.recv_timeout(POLL) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let due =
            SystemTime::now().duration_since(shared.held().written_at).is_ok_and(|age| age >= REFRESH_EVERY);
        if due {
            shared.refresh();
        }
    }
}

/// Seals and stores a lock file; returns its path.
fn write_lock(storage: &dyn Storage, sealer: &Sealer, lock: &Lock) -> Result<String> {
    let body = lock.encode().map_err(|e| Error::invalid("lock", e.to_string()))?;
    let bytes = sealer.seal_file(SealedFile::Lock, &body).map_err(|e| Error::system("encryption", e))?;
    let path = layout::file_path(FileKind::Lock, &crate::crypto::content_hash(&bytes));
    match storage.create(&path, bytes) {
        Ok(()) => Ok(path),
        Err(e) if e.kind == StorageErrorKind::AlreadyExists => Ok(path),
        Err(e) => Err(e.into()),
    }
}

/// A lock file as another process would have written it (for tests).
pub(crate) fn write_foreign_lock(
    repo: &Repository,
    kind: LockKind,
    hostname: &str,
    pid: u32,
    age: Duration,
) -> Result<()> {
    let at = crate::clock::timestamp(SystemTime::now() - age);
    let mut session = [0u8; SESSION_LEN];
    crate::crypto::random_bytes(&mut session).map_err(|e| Error::system("random number generation", e))?;
    let lock = Lock {
        kind,
        session,
        created: at,
        refreshed: at,
        pid,
        hostname: hostname.into(),
        username: "someone".into(),
        operation: "test".into(),
    };
    write_lock(repo.storage(), repo.sealer(), &lock).map(|_| ())
}

/// What `cairn unlock` removed.
#[derive(Clone, Debug, Default)]
pub struct Unlocked {
    /// Holders of the removed locks (or why a file could not be read).
    pub removed: Vec<String>,
    /// Live locks left in place.
    pub kept: Vec<String>,
}

impl Repository {
    /// Removes stale and unreadable lock files, or with `all` every lock file. Removing a
    /// live lock lets a prune delete data its holder is using: only with `all`, and only when
    /// the holder is known to be gone.
    pub fn unlock(&self, all: bool) -> Result<Unlocked> {
        let now = SystemTime::now();
        let mut report = Unlocked::default();
        for found in list_locks(self)? {
            let readable_and_live = found.lock.as_ref().is_ok_and(|lock| !is_stale(lock, now));
            if readable_and_live && !all {
                report.kept.push(found.describe());
                continue;
            }
            match self.storage().remove(&layout::file_path(FileKind::Lock, &found.id)) {
                Ok(()) => report.removed.push(found.describe()),
                Err(e) if e.kind == StorageErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}

/// A lock of the wire format at a given time, for tests of staleness.
#[cfg(test)]
fn lock_at(refreshed: cairn_format::timestamp::Timestamp, hostname: &str, pid: u32) -> Lock {
    Lock {
        kind: LockKind::Shared,
        session: [1; SESSION_LEN],
        created: refreshed,
        refreshed,
        pid,
        hostname: hostname.into(),
        username: "u".into(),
        operation: "backup".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_stale_after_its_age_or_when_its_process_is_gone() {
        let now = SystemTime::now();
        let at = |ago: Duration| crate::clock::timestamp(now - ago);
        let me = std::process::id();
        let here = crate::clock::hostname();
        assert!(!is_stale(&lock_at(at(Duration::from_mins(29)), "elsewhere", 1), now));
        assert!(is_stale(&lock_at(at(Duration::from_mins(31)), "elsewhere", 1), now));
        assert!(!is_stale(&lock_at(at(Duration::ZERO), &here, me), now));
        if std::path::Path::new("/proc/self").exists() {
            assert!(is_stale(&lock_at(at(Duration::ZERO), &here, u32::MAX), now));
        }
        // A lock from a clock ahead of ours is live.
        assert!(!is_stale(&lock_at(crate::clock::timestamp(now + Duration::from_hours(1)), "x", 1), now));
    }

    #[test]
    fn a_refresh_replaces_the_lock_file_and_a_late_one_loses_the_lock() {
        let dir = tempfile::TempDir::new().unwrap();
        let storage = crate::storage::open_location(dir.path().to_str().unwrap()).unwrap();
        let kdf = crate::KdfParams { memory_kib: 64, time_cost: 1, lanes: 1 };
        let options = crate::InitOptions { kdf, ..crate::InitOptions::default() };
        let repo = Repository::init(storage, &crate::Password::from("pw"), &options).unwrap();
        let guard = LockGuard::shared(&repo, "test").unwrap();
        let first = list_locks(&repo).unwrap();
        assert_eq!(first.len(), 1);
        guard.shared.refresh();
        let second = list_locks(&repo).unwrap();
        assert_eq!(second.len(), 1, "the previous lock file is removed");
        assert_ne!(first[0].id, second[0].id);
        let (old, new) = (first[0].lock.as_ref().unwrap(), second[0].lock.as_ref().unwrap());
        assert_eq!((old.session, old.created), (new.session, new.created));
        assert!(new.refreshed >= old.refreshed);
        guard.check().unwrap();
        // The device slept: the last lock file was written 20 minutes ago.
        guard.shared.held().written_at -= Duration::from_mins(20);
        assert!(matches!(guard.check(), Err(Error::LockLost { .. })));
        guard.shared.refresh();
        assert!(guard.check().is_err(), "a refresh after the gap does not restore trust");
        drop(guard);
        assert!(list_locks(&repo).unwrap().is_empty(), "dropping the guard removes its lock");
    }
}

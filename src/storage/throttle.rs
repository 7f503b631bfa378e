//! Bandwidth limits (`--limit-upload`, `--limit-download`, in KiB/s on the command line).
//!
//! Each direction has a schedule: a transfer of `n` bytes books `n / rate` seconds of the
//! link, starting when the previous booking ends, and waits for its turn. The average rate
//! over any stretch of transfers stays at or under the limit; single transfers still run at
//! full speed (a pack is sent in one request), so the limit is an average over packs, not a
//! cap on instantaneous speed.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{ObjectMeta, Storage, StorageError};

/// One direction's schedule.
struct Schedule {
    bytes_per_second: u64,
    /// When the last booking ends.
    free_at: Mutex<Option<Instant>>,
}

impl Schedule {
    fn new(bytes_per_second: Option<u64>) -> Option<Schedule> {
        bytes_per_second
            .filter(|&rate| rate > 0)
            .map(|bytes_per_second| Schedule { bytes_per_second, free_at: Mutex::new(None) })
    }

    /// Books `bytes` and sleeps until the booking starts.
    fn book(&self, bytes: u64) {
        let duration = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        let now = Instant::now();
        let start = {
            let mut free_at = self.free_at.lock().unwrap_or_else(PoisonError::into_inner);
            let start = free_at.map_or(now, |free| free.max(now));
            *free_at = Some(start + duration);
            start
        };
        if start > now {
            std::thread::sleep(start - now);
        }
    }
}

/// Storage whose uploads and downloads keep to average rate limits.
pub struct ThrottledStorage {
    inner: Arc<dyn Storage>,
    upload: Option<Schedule>,
    download: Option<Schedule>,
}

impl ThrottledStorage {
    /// Wraps `inner`; limits are in bytes per second, `None` for no limit.
    #[must_use]
    pub fn new(inner: Arc<dyn Storage>, upload: Option<u64>, download: Option<u64>) -> ThrottledStorage {
        ThrottledStorage { inner, upload: Schedule::new(upload), download: Schedule::new(download) }
    }

    fn upload(&self, bytes: u64) {
        if let Some(schedule) = &self.upload {
            schedule.book(bytes);
        }
    }

    fn download(&self, bytes: u64) {
        if let Some(schedule) = &self.download {
            schedule.book(bytes);
        }
    }
}

impl Storage for ThrottledStorage {
    fn location(&self) -> &str {
        self.inner.location()
    }

    fn create(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.upload(bytes.len() as u64);
        self.inner.create(path, bytes)
    }

    fn spool_dir(&self) -> &Path {
        self.inner.spool_dir()
    }

    fn create_from_spool(&self, path: &str, spool_file: &Path) -> Result<(), StorageError> {
        self.upload(std::fs::metadata(spool_file).map_or(0, |m| m.len()));
        self.inner.create_from_spool(path, spool_file)
    }

    fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>, StorageError> {
        let bytes = self.inner.read(path, max_len)?;
        // The size is known only afterwards: the wait falls on the next transfer.
        self.download(bytes.len() as u64);
        Ok(bytes)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        self.download(len);
        self.inner.read_range(path, offset, len)
    }

    fn len(&self, path: &str) -> Result<u64, StorageError> {
        self.inner.len(path)
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.inner.remove(path)
    }

    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        self.inner.list(dir)
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
    fn bookings_follow_each_other_at_the_rate() {
        let schedule = Schedule::new(Some(1_000_000)).unwrap();
        let started = Instant::now();
        for _ in 0..3 {
            schedule.book(100_000); // 0.1 s each: the third starts 0.2 s in.
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        let free_at = schedule.free_at.lock().unwrap().unwrap();
        assert!(free_at >= started + Duration::from_millis(300));
    }
}

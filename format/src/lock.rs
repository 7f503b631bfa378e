//! Lock files (SPEC §10.4): who is using the repository, so that `prune` never deletes data
//! an operation in progress may still reference. A lock is a small sealed file under
//! `locks/`, refreshed by writing a new one and deleting the old.

use crate::FormatError;
use crate::limits::MAX_LABEL_LEN;
use crate::timestamp::Timestamp;
use crate::wire::{Reader, Writer};

/// Length of a lock's random session id.
pub const SESSION_LEN: usize = 16;

/// What a lock holder does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum LockKind {
    /// Reads or adds data (backup, restore, check): never waits for anyone; `prune` deletes
    /// nothing while one is live.
    Shared,
    /// Removes data (forget, prune, repair): one at a time.
    Exclusive,
}

impl LockKind {
    fn code(self) -> u8 {
        match self {
            LockKind::Shared => 1,
            LockKind::Exclusive => 2,
        }
    }
}

/// The decoded payload of a lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Lock {
    /// Shared or exclusive.
    pub kind: LockKind,
    /// Random id of the holder's session, the same in every refresh of its lock.
    pub session: [u8; SESSION_LEN],
    /// When the session took its first lock.
    pub created: Timestamp,
    /// When this lock file was written; a lock not refreshed for long is stale.
    pub refreshed: Timestamp,
    /// Process id of the holder on its host.
    pub pid: u32,
    /// Host of the holder.
    pub hostname: String,
    /// User of the holder.
    pub username: String,
    /// What the holder does, e.g. `backup`, for messages.
    pub operation: String,
}

impl Lock {
    /// Encodes the payload body.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let mut w = Writer::with_capacity(128);
        w.u8(self.kind.code());
        w.bytes(&self.session);
        self.created.encode(&mut w);
        self.refreshed.encode(&mut w);
        w.u32(self.pid);
        w.bytes16("lock.hostname", self.hostname.as_bytes(), MAX_LABEL_LEN)?;
        w.bytes16("lock.username", self.username.as_bytes(), MAX_LABEL_LEN)?;
        w.bytes16("lock.operation", self.operation.as_bytes(), MAX_LABEL_LEN)?;
        Ok(w.into_bytes())
    }

    /// Decodes a payload body.
    pub fn decode(bytes: &[u8]) -> Result<Lock, FormatError> {
        let mut r = Reader::new(bytes);
        let kind = match r.u8("lock.kind")? {
            1 => LockKind::Shared,
            2 => LockKind::Exclusive,
            other => return Err(FormatError::Unsupported { field: "lock.kind", found: u64::from(other) }),
        };
        let session = r.array("lock.session")?;
        let created = Timestamp::decode(&mut r, "lock.created")?;
        let refreshed = Timestamp::decode(&mut r, "lock.refreshed")?;
        let pid = r.u32("lock.pid")?;
        let hostname = r.string16("lock.hostname", MAX_LABEL_LEN)?;
        let username = r.string16("lock.username", MAX_LABEL_LEN)?;
        let operation = r.string16("lock.operation", MAX_LABEL_LEN)?;
        r.finish("lock")?;
        Ok(Lock { kind, session, created, refreshed, pid, hostname, username, operation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock() -> Lock {
        Lock {
            kind: LockKind::Exclusive,
            session: [7; SESSION_LEN],
            created: Timestamp { secs: 1_800_000_000, nanos: 5 },
            refreshed: Timestamp { secs: 1_800_000_300, nanos: 0 },
            pid: 4242,
            hostname: "phone".into(),
            username: "me".into(),
            operation: "prune".into(),
        }
    }

    #[test]
    fn round_trips_and_rejects_unknown_kinds_and_trailing_bytes() {
        let bytes = lock().encode().unwrap();
        assert_eq!(bytes.len(), 1 + 16 + 12 + 12 + 4 + 7 + 4 + 7);
        assert_eq!(Lock::decode(&bytes).unwrap(), lock());
        let mut unknown = bytes.clone();
        unknown[0] = 3;
        assert!(matches!(Lock::decode(&unknown), Err(FormatError::Unsupported { field: "lock.kind", .. })));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(Lock::decode(&longer), Err(FormatError::TrailingBytes { .. })));
        assert!(Lock::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}

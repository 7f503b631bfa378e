//! Retention policy files (SPEC §10.5): the rules `cairn forget` applies when it is given
//! none, so a scheduled `cairn forget --prune` needs no flags. The config is write-once, so
//! the policy is its own sealed file under `policy/`; the newest by `set_at` is in force.

use crate::FormatError;
use crate::limits::{MAX_LABEL_LEN, MAX_SNAPSHOT_LIST};
use crate::timestamp::Timestamp;
use crate::wire::{Reader, Writer, check_sorted_unique};

/// Which snapshot fields form the groups a policy is applied to separately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GroupBy {
    /// Group by host name.
    pub host: bool,
    /// Group by the set of source paths.
    pub paths: bool,
    /// Group by the set of tags.
    pub tags: bool,
}

impl GroupBy {
    /// Host and paths: each device's backup of each set of sources is thinned on its own.
    pub const DEFAULT: GroupBy = GroupBy { host: true, paths: true, tags: false };

    fn bits(self) -> u8 {
        u8::from(self.host) | u8::from(self.paths) << 1 | u8::from(self.tags) << 2
    }

    fn from_bits(bits: u8) -> Result<GroupBy, FormatError> {
        if bits & !0b111 != 0 {
            return Err(FormatError::Unsupported { field: "policy.group_by", found: u64::from(bits) });
        }
        Ok(GroupBy { host: bits & 1 != 0, paths: bits & 2 != 0, tags: bits & 4 != 0 })
    }
}

/// Which snapshots to keep (SPEC §10.5 gives the meaning of each rule). A snapshot is kept if
/// any rule keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Retention {
    /// The newest N snapshots.
    pub keep_last: u32,
    /// The newest snapshot of each of the last N hours that have one.
    pub keep_hourly: u32,
    /// … days.
    pub keep_daily: u32,
    /// … ISO weeks.
    pub keep_weekly: u32,
    /// … months.
    pub keep_monthly: u32,
    /// … years.
    pub keep_yearly: u32,
    /// Every snapshot at most this many seconds older than the group's newest; 0: none.
    pub keep_within_secs: u64,
    /// Every snapshot carrying any of these tags (sorted, unique).
    pub keep_tags: Vec<String>,
    /// How snapshots are grouped.
    pub group_by: GroupBy,
}

impl Retention {
    /// Whether no rule keeps anything: such a policy would remove every snapshot.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keep_last == 0
            && self.keep_hourly == 0
            && self.keep_daily == 0
            && self.keep_weekly == 0
            && self.keep_monthly == 0
            && self.keep_yearly == 0
            && self.keep_within_secs == 0
            && self.keep_tags.is_empty()
    }
}

/// The decoded payload of a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PolicyFile {
    /// The rules.
    pub retention: Retention,
    /// When they were set; the newest policy file is in force.
    pub set_at: Timestamp,
}

impl PolicyFile {
    /// Encodes the payload body.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let r = &self.retention;
        check_sorted_unique(r.keep_tags.iter().map(String::as_str), "policy.keep_tags")?;
        let mut w = Writer::with_capacity(64);
        for count in [r.keep_last, r.keep_hourly, r.keep_daily, r.keep_weekly, r.keep_monthly, r.keep_yearly]
        {
            w.u32(count);
        }
        w.u64(r.keep_within_secs);
        w.count_u16("policy.tag_count", r.keep_tags.len(), MAX_SNAPSHOT_LIST)?;
        for tag in &r.keep_tags {
            w.bytes16("policy.keep_tag", tag.as_bytes(), MAX_LABEL_LEN)?;
        }
        w.u8(r.group_by.bits());
        self.set_at.encode(&mut w);
        Ok(w.into_bytes())
    }

    /// Decodes a payload body.
    pub fn decode(bytes: &[u8]) -> Result<PolicyFile, FormatError> {
        let mut r = Reader::new(bytes);
        let mut counts = [0u32; 6];
        for count in &mut counts {
            *count = r.u32("policy.keep_count")?;
        }
        let [keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly] = counts;
        let keep_within_secs = r.u64("policy.keep_within_secs")?;
        let count = r.count_u16("policy.tag_count", MAX_SNAPSHOT_LIST, 2)?;
        let mut keep_tags = Vec::with_capacity(count);
        for _ in 0..count {
            keep_tags.push(r.string16("policy.keep_tag", MAX_LABEL_LEN)?);
        }
        let group_by = GroupBy::from_bits(r.u8("policy.group_by")?)?;
        let set_at = Timestamp::decode(&mut r, "policy.set_at")?;
        r.finish("policy")?;
        check_sorted_unique(keep_tags.iter().map(String::as_str), "policy.keep_tags")?;
        let retention = Retention {
            keep_last,
            keep_hourly,
            keep_daily,
            keep_weekly,
            keep_monthly,
            keep_yearly,
            keep_within_secs,
            keep_tags,
            group_by,
        };
        Ok(PolicyFile { retention, set_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PolicyFile {
        PolicyFile {
            retention: Retention {
                keep_daily: 14,
                keep_weekly: 8,
                keep_monthly: 12,
                keep_within_secs: 86_400,
                keep_tags: vec!["keep".into(), "release".into()],
                group_by: GroupBy::DEFAULT,
                ..Retention::default()
            },
            set_at: Timestamp { secs: 1_800_000_000, nanos: 0 },
        }
    }

    #[test]
    fn round_trips_and_checks_tags_and_grouping() {
        let bytes = policy().encode().unwrap();
        assert_eq!(PolicyFile::decode(&bytes).unwrap(), policy());
        let group_at = bytes.len() - 13;
        let mut unknown = bytes.clone();
        unknown[group_at] = 0b1000;
        assert!(matches!(PolicyFile::decode(&unknown), Err(FormatError::Unsupported { .. })));
        let mut unsorted = policy();
        unsorted.retention.keep_tags.reverse();
        assert!(unsorted.encode().is_err());
        assert!(PolicyFile::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(!policy().retention.is_empty() && Retention::default().is_empty());
    }
}

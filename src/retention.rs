//! Retention: which snapshots a policy keeps (SPEC §10.5). Pure functions over snapshot
//! lists, so apps can show what a policy would do and tests can check its properties.
//!
//! Calendar buckets (hour, day, ISO week, month, year) are in UTC, so the same repository
//! thins the same way whichever time zone the device doing it is in.

use std::collections::BTreeMap;

use cairn_format::id::SnapshotId;
use cairn_format::policy::{GroupBy, Retention};
use cairn_format::timestamp::Timestamp;

use crate::snapshot::SnapshotInfo;

/// Named policies for apps that should not have to know the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// A week of dailies and a month of weeklies: the least space.
    SpaceSaver,
    /// Two weeks of dailies, two months of weeklies, a year of monthlies.
    Balanced,
    /// A month of dailies, half a year of weeklies, two years of monthlies, ten yearlies.
    Comprehensive,
}

impl Preset {
    /// Every preset, for listings.
    pub const ALL: [Preset; 3] = [Preset::SpaceSaver, Preset::Balanced, Preset::Comprehensive];

    /// The name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Preset::SpaceSaver => "space-saver",
            Preset::Balanced => "balanced",
            Preset::Comprehensive => "comprehensive",
        }
    }

    /// The preset called `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Its rules, grouped by host and paths.
    #[must_use]
    pub fn retention(self) -> Retention {
        let (daily, weekly, monthly, yearly) = match self {
            Preset::SpaceSaver => (7, 4, 0, 0),
            Preset::Balanced => (14, 8, 12, 0),
            Preset::Comprehensive => (30, 26, 24, 10),
        };
        Retention {
            keep_last: 1,
            keep_daily: daily,
            keep_weekly: weekly,
            keep_monthly: monthly,
            keep_yearly: yearly,
            group_by: GroupBy::DEFAULT,
            ..Retention::default()
        }
    }
}

/// Why a rule keeps a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// One of the newest `keep_last`.
    Last,
    /// The newest of its hour, day, week, month or year (the bucket is named).
    Calendar(&'static str, String),
    /// Within `keep_within` of the group's newest snapshot.
    Within,
    /// It carries this tag.
    Tag(String),
    /// Its time is after now: kept, since it cannot be placed in a bucket honestly.
    InTheFuture,
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepReason::Last => f.write_str("last"),
            KeepReason::Calendar(rule, bucket) => write!(f, "{rule} {bucket}"),
            KeepReason::Within => f.write_str("within"),
            KeepReason::Tag(tag) => write!(f, "tag {tag}"),
            KeepReason::InTheFuture => f.write_str("dated in the future"),
        }
    }
}

/// What a policy decides for one snapshot.
#[derive(Clone, Debug)]
pub struct Decision {
    /// The snapshot.
    pub id: SnapshotId,
    /// Its time.
    pub time: Timestamp,
    /// Why it is kept; empty means it is removed.
    pub reasons: Vec<KeepReason>,
}

impl Decision {
    /// Whether any rule keeps it.
    #[must_use]
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The snapshots sharing the fields a policy groups by.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    /// Host, when grouped by host.
    pub host: Option<String>,
    /// Source paths (sorted, lossy UTF-8), when grouped by paths.
    pub paths: Option<Vec<String>>,
    /// Tags (sorted), when grouped by tags.
    pub tags: Option<Vec<String>>,
}

/// One group and the decision for each of its snapshots, newest first.
#[derive(Clone, Debug)]
pub struct GroupDecisions {
    /// The group.
    pub key: GroupKey,
    /// Newest first.
    pub decisions: Vec<Decision>,
}

/// Applies `policy` to `snapshots` at time `now`. Each group is thinned on its own; within
/// a group a snapshot is kept if any rule keeps it.
#[must_use]
pub fn apply(snapshots: &[SnapshotInfo], policy: &Retention, now: Timestamp) -> Vec<GroupDecisions> {
    let mut groups: BTreeMap<GroupKey, Vec<&SnapshotInfo>> = BTreeMap::new();
    for info in snapshots {
        groups.entry(group_key(info, policy.group_by)).or_default().push(info);
    }
    groups
        .into_iter()
        .map(|(key, mut members)| {
            members.sort_by_key(|info| std::cmp::Reverse((info.snapshot.time, info.id)));
            GroupDecisions { key, decisions: decide(&members, policy, now) }
        })
        .collect()
}

fn group_key(info: &SnapshotInfo, by: GroupBy) -> GroupKey {
    let mut paths: Vec<String> =
        info.snapshot.paths.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    paths.sort();
    GroupKey {
        host: by.host.then(|| info.snapshot.hostname.clone()),
        paths: by.paths.then_some(paths),
        tags: by.tags.then(|| info.snapshot.tags.clone()),
    }
}

/// A calendar rule: its name, how many buckets it keeps, and the bucket of a time.
struct CalendarRule {
    name: &'static str,
    count: u32,
    bucket: fn(Timestamp) -> i64,
    label: fn(Timestamp) -> String,
}

fn calendar_rules(policy: &Retention) -> [CalendarRule; 5] {
    [
        CalendarRule { name: "hourly", count: policy.keep_hourly, bucket: hour_of, label: hour_label },
        CalendarRule { name: "daily", count: policy.keep_daily, bucket: day_of, label: day_label },
        CalendarRule { name: "weekly", count: policy.keep_weekly, bucket: week_of, label: week_label },
        CalendarRule { name: "monthly", count: policy.keep_monthly, bucket: month_of, label: month_label },
        CalendarRule { name: "yearly", count: policy.keep_yearly, bucket: year_of, label: year_label },
    ]
}

/// Decisions for one group, sorted newest first.
fn decide(members: &[&SnapshotInfo], policy: &Retention, now: Timestamp) -> Vec<Decision> {
    let mut decisions: Vec<Decision> = members
        .iter()
        .map(|info| Decision { id: info.id, time: info.snapshot.time, reasons: Vec::new() })
        .collect();
    // Snapshots dated after now are kept and take part in no rule: a device whose clock is
    // ahead must not use up `keep_last` or a day's slot and push real snapshots out.
    let future = decisions.iter().take_while(|d| d.time > now).count();
    for decision in &mut decisions[..future] {
        decision.reasons.push(KeepReason::InTheFuture);
    }
    apply_rules(&mut decisions[future..], &members[future..], policy);
    decisions
}

/// The keep rules over snapshots sorted newest first, none in the future.
fn apply_rules(decisions: &mut [Decision], members: &[&SnapshotInfo], policy: &Retention) {
    let keep_last = usize::try_from(policy.keep_last).unwrap_or(usize::MAX);
    for decision in decisions.iter_mut().take(keep_last) {
        decision.reasons.push(KeepReason::Last);
    }
    for rule in calendar_rules(policy) {
        let mut kept = 0u32;
        let mut previous = None;
        for decision in decisions.iter_mut() {
            if kept == rule.count {
                break;
            }
            let bucket = (rule.bucket)(decision.time);
            if previous != Some(bucket) {
                previous = Some(bucket);
                decision.reasons.push(KeepReason::Calendar(rule.name, (rule.label)(decision.time)));
                kept += 1;
            }
        }
    }
    if policy.keep_within_secs > 0
        && let Some(newest) = decisions.first().map(|d| d.time)
    {
        let window = i64::try_from(policy.keep_within_secs).unwrap_or(i64::MAX);
        for decision in decisions.iter_mut() {
            if newest.secs.saturating_sub(decision.time.secs) <= window {
                decision.reasons.push(KeepReason::Within);
            }
        }
    }
    for (decision, info) in decisions.iter_mut().zip(members) {
        for tag in &policy.keep_tags {
            if info.snapshot.tags.contains(tag) {
                decision.reasons.push(KeepReason::Tag(tag.clone()));
            }
        }
    }
}

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn hour_of(t: Timestamp) -> i64 {
    t.secs.div_euclid(HOUR)
}

fn day_of(t: Timestamp) -> i64 {
    t.secs.div_euclid(DAY)
}

/// Weeks starting on Monday, as ISO weeks do (1970-01-01 was a Thursday).
fn week_of(t: Timestamp) -> i64 {
    (day_of(t) + 3).div_euclid(7)
}

fn month_of(t: Timestamp) -> i64 {
    let (year, month, _) = crate::clock::civil_from_days(day_of(t));
    year * 12 + i64::from(month)
}

fn year_of(t: Timestamp) -> i64 {
    crate::clock::civil_from_days(day_of(t)).0
}

fn hour_label(t: Timestamp) -> String {
    crate::clock::rfc3339(t)[..13].to_string()
}

fn day_label(t: Timestamp) -> String {
    crate::clock::rfc3339(t)[..10].to_string()
}

fn week_label(t: Timestamp) -> String {
    let monday = Timestamp { secs: (week_of(t) * 7 - 3) * DAY, nanos: 0 };
    format!("week of {}", day_label(monday))
}

fn month_label(t: Timestamp) -> String {
    crate::clock::rfc3339(t)[..7].to_string()
}

fn year_label(t: Timestamp) -> String {
    crate::clock::rfc3339(t)[..4].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::id::{ObjectId, TreeId};
    use cairn_format::snapshot::{Snapshot, Summary};

    fn snapshot(n: u8, secs: i64, host: &str, tags: &[&str]) -> SnapshotInfo {
        SnapshotInfo {
            id: SnapshotId(ObjectId([n; 32])),
            snapshot: Snapshot {
                time: Timestamp { secs, nanos: 0 },
                tree: TreeId(ObjectId::ZERO),
                parent: None,
                hostname: host.into(),
                username: "u".into(),
                paths: vec![b"/data".to_vec()],
                tags: tags.iter().map(|t| (*t).to_string()).collect(),
                program: "test".into(),
                summary: Summary::default(),
                meta: Vec::new(),
            },
        }
    }

    fn kept(groups: &[GroupDecisions]) -> Vec<u8> {
        let mut ids: Vec<u8> =
            groups.iter().flat_map(|g| &g.decisions).filter(|d| d.keep()).map(|d| d.id.0.0[0]).collect();
        ids.sort_unstable();
        ids
    }

    /// 2026-11-23 (a Monday) 12:00 UTC.
    const MONDAY_NOON: i64 = 1_795_435_200;

    #[test]
    fn daily_keeps_the_newest_of_each_day_and_weekly_of_each_monday_week() {
        // Two a day for ten days back from Monday noon.
        let snapshots: Vec<SnapshotInfo> = (0..20u8)
            .map(|i| {
                snapshot(i, MONDAY_NOON - i64::from(i / 2) * DAY - i64::from(i % 2) * 3 * HOUR, "h", &[])
            })
            .collect();
        let now = Timestamp { secs: MONDAY_NOON + 60, nanos: 0 };
        let daily = Retention { keep_daily: 3, group_by: GroupBy::DEFAULT, ..Retention::default() };
        assert_eq!(kept(&apply(&snapshots, &daily, now)), [0, 2, 4]);
        let weekly = Retention { keep_weekly: 2, group_by: GroupBy::DEFAULT, ..Retention::default() };
        // This week: Monday (0); last week's newest: Sunday (2).
        assert_eq!(kept(&apply(&snapshots, &weekly, now)), [0, 2]);
        let decisions = apply(&snapshots, &weekly, now);
        assert_eq!(decisions[0].decisions[2].reasons[0].to_string(), "weekly week of 2026-11-16");
    }

    #[test]
    fn groups_are_thinned_separately_and_tags_and_future_snapshots_are_kept() {
        let now = Timestamp { secs: MONDAY_NOON, nanos: 0 };
        let snapshots = vec![
            snapshot(1, MONDAY_NOON - 100, "phone", &[]),
            snapshot(2, MONDAY_NOON - 200, "phone", &["keep"]),
            snapshot(3, MONDAY_NOON - 300, "phone", &[]),
            snapshot(4, MONDAY_NOON - 400, "laptop", &[]),
            snapshot(5, MONDAY_NOON + 10 * DAY, "laptop", &[]),
        ];
        let policy = Retention {
            keep_last: 1,
            keep_tags: vec!["keep".into()],
            group_by: GroupBy::DEFAULT,
            ..Retention::default()
        };
        assert_eq!(kept(&apply(&snapshots, &policy, now)), [1, 2, 4, 5]);
    }

    #[test]
    fn keep_within_counts_back_from_the_newest_snapshot() {
        let now = Timestamp { secs: MONDAY_NOON + 100 * DAY, nanos: 0 };
        let snapshots: Vec<SnapshotInfo> =
            (0..5u8).map(|i| snapshot(i, MONDAY_NOON - i64::from(i) * DAY, "h", &[])).collect();
        let policy =
            Retention { keep_within_secs: 2 * 86_400, group_by: GroupBy::DEFAULT, ..Retention::default() };
        assert_eq!(kept(&apply(&snapshots, &policy, now)), [0, 1, 2]);
    }

    #[test]
    fn presets_have_names_and_rules() {
        for preset in Preset::ALL {
            assert_eq!(Preset::from_name(preset.name()), Some(preset));
            assert!(!preset.retention().is_empty());
        }
        assert_eq!(Preset::Balanced.retention().keep_monthly, 12);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn snapshots() -> impl Strategy<Value = Vec<SnapshotInfo>> {
            // Up to 40 snapshots over 400 days before MONDAY_NOON, a few in the future.
            prop::collection::vec((-3i64 * DAY..400 * DAY, 0u8..2, any::<bool>()), 0..40).prop_map(|specs| {
                specs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (ago, host, tagged))| {
                        let tags: &[&str] = if tagged { &["keep"] } else { &[] };
                        snapshot(
                            u8::try_from(i).unwrap(),
                            MONDAY_NOON - ago,
                            ["phone", "laptop"][usize::from(host)],
                            tags,
                        )
                    })
                    .collect()
            })
        }

        fn policies() -> impl Strategy<Value = Retention> {
            (0u32..4, 0u32..4, 0u32..6, 0u32..4, 0u32..4, 0u32..3, 0u64..20 * 86_400, any::<bool>()).prop_map(
                |(last, hourly, daily, weekly, monthly, yearly, within, tag)| Retention {
                    keep_last: last,
                    keep_hourly: hourly,
                    keep_daily: daily,
                    keep_weekly: weekly,
                    keep_monthly: monthly,
                    keep_yearly: yearly,
                    keep_within_secs: within,
                    keep_tags: if tag { vec!["keep".into()] } else { Vec::new() },
                    group_by: GroupBy::DEFAULT,
                },
            )
        }

        /// Each rule on its own, from a policy.
        fn single_rules(policy: &Retention) -> Vec<Retention> {
            let base = Retention { group_by: policy.group_by, ..Retention::default() };
            vec![
                Retention { keep_last: policy.keep_last, ..base.clone() },
                Retention { keep_hourly: policy.keep_hourly, ..base.clone() },
                Retention { keep_daily: policy.keep_daily, ..base.clone() },
                Retention { keep_weekly: policy.keep_weekly, ..base.clone() },
                Retention { keep_monthly: policy.keep_monthly, ..base.clone() },
                Retention { keep_yearly: policy.keep_yearly, ..base.clone() },
                Retention { keep_within_secs: policy.keep_within_secs, ..base.clone() },
                Retention { keep_tags: policy.keep_tags.clone(), ..base },
            ]
        }

        proptest! {
            /// A snapshot any single rule keeps, the whole policy keeps.
            #[test]
            fn the_kept_set_contains_each_rules_kept_set(snapshots in snapshots(), policy in policies()) {
                let now = Timestamp { secs: MONDAY_NOON, nanos: 0 };
                let all = kept(&apply(&snapshots, &policy, now));
                for rule in single_rules(&policy) {
                    for id in kept(&apply(&snapshots, &rule, now)) {
                        prop_assert!(all.contains(&id), "{rule:?} keeps {id}, the policy does not");
                    }
                }
            }

            /// Forgetting twice removes nothing more: the kept set is a fixed point.
            #[test]
            fn forgetting_is_idempotent(snapshots in snapshots(), policy in policies()) {
                let now = Timestamp { secs: MONDAY_NOON, nanos: 0 };
                let first = kept(&apply(&snapshots, &policy, now));
                let survivors: Vec<SnapshotInfo> =
                    snapshots.iter().filter(|s| first.contains(&s.id.0.0[0])).cloned().collect();
                prop_assert_eq!(kept(&apply(&survivors, &policy, now)), first);
            }

            /// Snapshots dated after now are always kept.
            #[test]
            fn future_snapshots_are_kept(snapshots in snapshots(), policy in policies()) {
                let now = Timestamp { secs: MONDAY_NOON, nanos: 0 };
                let all = kept(&apply(&snapshots, &policy, now));
                for s in snapshots.iter().filter(|s| s.snapshot.time > now) {
                    prop_assert!(all.contains(&s.id.0.0[0]));
                }
            }
        }
    }
}

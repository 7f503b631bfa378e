//! `cairn policy show|set|clear`, and the retention rules shared with `cairn forget`.

use cairn::Preset;
use cairn::format::policy::{GroupBy, Retention};
use serde_json::{Value, json};

use super::args::{Cli, PolicyArgs, PolicyCommand, RetentionArgs};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &PolicyArgs) -> Result<u8, CliError> {
    let repo = open(cli)?;
    match &args.command {
        PolicyCommand::Show => match repo.retention_policy()? {
            Some((retention, set_at)) => {
                if cli.json {
                    output::json(
                        &json!({"policy": to_json(&retention), "set_at": output::time_precise(set_at)}),
                    );
                } else {
                    println!("{} (set {})", describe(&retention), output::time(set_at));
                }
            }
            None if cli.json => output::json(&json!({"policy": Value::Null})),
            None => println!("no policy stored; `cairn policy set --preset balanced` stores one"),
        },
        PolicyCommand::Set(rules) => {
            let retention = retention(rules)?
                .ok_or_else(|| CliError::usage("give --keep-* rules or a --preset to store"))?;
            repo.set_retention_policy(&retention)?;
            if cli.json {
                output::json(&json!({"policy": to_json(&retention)}));
            } else if !cli.quiet {
                println!("stored policy: {}", describe(&retention));
            }
        }
        PolicyCommand::Clear => {
            repo.clear_retention_policy()?;
            if !cli.quiet && !cli.json {
                println!("policy removed");
            }
        }
    }
    Ok(exit::OK)
}

/// The rules given on the command line, or `None` when none were (the stored policy then
/// applies).
pub fn retention(args: &RetentionArgs) -> Result<Option<Retention>, CliError> {
    let given = args.preset.is_some()
        || args.keep_last.is_some()
        || args.keep_hourly.is_some()
        || args.keep_daily.is_some()
        || args.keep_weekly.is_some()
        || args.keep_monthly.is_some()
        || args.keep_yearly.is_some()
        || args.keep_within.is_some()
        || !args.keep_tags.is_empty();
    if !given {
        if args.group_by.is_some() {
            return Err(CliError::usage(
                "--group-by needs rules to apply; give --keep-* rules or a --preset",
            ));
        }
        return Ok(None);
    }
    let mut r = match &args.preset {
        Some(name) => Preset::from_name(name)
            .ok_or_else(|| CliError::usage(format!("unknown preset {name}")))?
            .retention(),
        None => Retention { group_by: GroupBy::DEFAULT, ..Retention::default() },
    };
    let set = |slot: &mut u32, value: Option<u32>| {
        if let Some(value) = value {
            *slot = value;
        }
    };
    set(&mut r.keep_last, args.keep_last);
    set(&mut r.keep_hourly, args.keep_hourly);
    set(&mut r.keep_daily, args.keep_daily);
    set(&mut r.keep_weekly, args.keep_weekly);
    set(&mut r.keep_monthly, args.keep_monthly);
    set(&mut r.keep_yearly, args.keep_yearly);
    if let Some(within) = &args.keep_within {
        r.keep_within_secs = parse_duration(within)?;
    }
    let mut tags = args.keep_tags.clone();
    tags.sort();
    tags.dedup();
    r.keep_tags = tags;
    if let Some(fields) = &args.group_by {
        r.group_by = parse_group_by(fields)?;
    }
    Ok(Some(r))
}

/// `1y6m2w3d12h`: years of 365 days, months of 30 days, weeks, days, hours.
pub fn parse_duration(text: &str) -> Result<u64, CliError> {
    let bad = || CliError::usage(format!("invalid duration {text:?}; use e.g. 7d, 2w, 1y6m or 12h"));
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            'y' => 365 * 86_400,
            'm' => 30 * 86_400,
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(total)
}

fn parse_group_by(fields: &str) -> Result<GroupBy, CliError> {
    let mut by = GroupBy::default();
    for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        match field {
            "host" => by.host = true,
            "paths" => by.paths = true,
            "tags" => by.tags = true,
            other => {
                return Err(CliError::usage(format!(
                    "unknown --group-by field {other:?}; use host, paths, tags"
                )));
            }
        }
    }
    Ok(by)
}

/// The rules in one line: `last 1, daily 14, weekly 8; grouped by host, paths`.
pub fn describe(r: &Retention) -> String {
    let mut rules: Vec<String> = [
        ("last", r.keep_last),
        ("hourly", r.keep_hourly),
        ("daily", r.keep_daily),
        ("weekly", r.keep_weekly),
        ("monthly", r.keep_monthly),
        ("yearly", r.keep_yearly),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(name, n)| format!("{name} {n}"))
    .collect();
    if r.keep_within_secs > 0 {
        let (days, hours) = (r.keep_within_secs / 86_400, r.keep_within_secs % 86_400 / 3600);
        rules.push(match (days, hours) {
            (d, 0) => format!("within {d}d"),
            (0, h) => format!("within {h}h"),
            (d, h) => format!("within {d}d{h}h"),
        });
    }
    rules.extend(r.keep_tags.iter().map(|t| format!("tag {t}")));
    let groups: Vec<&str> =
        [("host", r.group_by.host), ("paths", r.group_by.paths), ("tags", r.group_by.tags)]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect();
    let grouping =
        if groups.is_empty() { "one group".to_string() } else { format!("grouped by {}", groups.join(", ")) };
    format!("keep {}; {grouping}", rules.join(", "))
}

pub fn to_json(r: &Retention) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_garbage_is_refused() {
        assert_eq!(parse_duration("7d").unwrap(), 7 * 86_400);
        assert_eq!(parse_duration("1y6m").unwrap(), 365 * 86_400 + 180 * 86_400);
        assert_eq!(parse_duration("2w12h").unwrap(), 14 * 86_400 + 12 * 3600);
        for bad in ["", "7", "d", "3x", "0d", "99999999999999999999y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

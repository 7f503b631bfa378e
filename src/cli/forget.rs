//! `cairn forget`: removes snapshots by rules or id, optionally followed by a prune.

use cairn::{CancelToken, ForgetOptions, GroupDecisions};
use serde_json::{Value, json};

use super::args::{Cli, ForgetArgs};
use super::{CliError, exit, open, output, policy, prune};

pub fn run(cli: &Cli, args: &ForgetArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let rules = policy::retention(&args.rules)?;
    let mut result = json!({"dry_run": args.dry_run});
    if args.ids.is_empty() {
        let options = ForgetOptions {
            retention: rules,
            dry_run: args.dry_run,
            allow_remove_all: args.unsafe_allow_remove_all,
        };
        let report = repo.forget(&options)?;
        for id in &report.unreadable {
            eprintln!("warning: snapshot {} cannot be read; no rule applies to it", id.short());
        }
        if cli.json {
            result["policy"] = policy::to_json(&report.retention);
            result["groups"] = report.groups.iter().map(group_json).collect();
            result["removed"] = report.removed.iter().map(ToString::to_string).collect();
        } else if !cli.quiet {
            println!("policy: {}", policy::describe(&report.retention));
            for group in &report.groups {
                print_group(group);
            }
            let verb = if args.dry_run { "would remove" } else { "removed" };
            println!("{verb} {} snapshots", report.removed.len());
        }
    } else {
        if rules.is_some() {
            return Err(CliError::usage("give snapshot ids or rules, not both"));
        }
        if args.dry_run {
            return Err(CliError::usage("--dry-run applies to rules; with ids, nothing to preview"));
        }
        let removed = repo.forget_snapshots(&args.ids)?;
        if cli.json {
            result["removed"] = removed.iter().map(ToString::to_string).collect();
        } else if !cli.quiet {
            for id in &removed {
                println!("removed snapshot {}", id.short());
            }
        }
    }
    if args.prune && !args.dry_run {
        let options = prune::options(&args.max_unused, false, args.unsafe_allow_remove_all)?;
        let report = repo.prune(&options, cancel)?;
        if cli.json {
            result["prune"] = prune::report_json(&report);
        } else if !cli.quiet {
            prune::print_report(&report, false);
        }
    }
    if cli.json {
        output::json(&result);
    }
    Ok(exit::OK)
}

fn group_label(group: &GroupDecisions) -> String {
    let mut parts = Vec::new();
    if let Some(host) = &group.key.host {
        parts.push(format!("host {host}"));
    }
    if let Some(paths) = &group.key.paths {
        parts.push(format!("paths {}", paths.join(" ")));
    }
    if let Some(tags) = &group.key.tags {
        parts.push(format!("tags [{}]", tags.join(",")));
    }
    if parts.is_empty() { "all snapshots".into() } else { parts.join(", ") }
}

fn print_group(group: &GroupDecisions) {
    let kept = group.decisions.iter().filter(|d| d.keep()).count();
    println!("{}: keep {kept}, remove {}", group_label(group), group.decisions.len() - kept);
    for decision in &group.decisions {
        let why: Vec<String> = decision.reasons.iter().map(ToString::to_string).collect();
        let verdict = if decision.keep() {
            format!("keep    {}", why.join(", "))
        } else {
            "remove  no rule keeps it".into()
        };
        println!("  {}  {}  {verdict}", decision.id.short(), output::time(decision.time));
    }
}

fn group_json(group: &GroupDecisions) -> Value {
    json!({
        "host": group.key.host,
        "paths": group.key.paths,
        "tags": group.key.tags,
        "snapshots": group.decisions.iter().map(|d| json!({
            "id": d.id.to_string(),
            "time": output::time_precise(d.time),
            "keep": d.keep(),
            "reasons": d.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

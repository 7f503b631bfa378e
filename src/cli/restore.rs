//! `cairn restore`.

use cairn::{CancelToken, RestoreOptions};
use serde_json::json;

use super::args::{Cli, RestoreArgs};
use super::progress::Display;
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &RestoreArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let snapshot = repo.find_snapshot(&args.snapshot)?;
    let options = RestoreOptions {
        include: args.include.clone(),
        verify: args.verify,
        threads: None,
        safety_snapshot: !args.no_safety_snapshot,
        dry_run: args.dry_run,
        max_schema_version: args.max_schema_version,
    };
    let started = std::time::Instant::now();
    let display = Display::new(cli.json, cli.quiet);
    let outcome = repo.restore(&snapshot, &args.target, &options, &display, cancel);
    display.finish();
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    if args.dry_run {
        print_changes(cli, &outcome);
        return Ok(exit::OK);
    }
    if cli.json {
        output::json(&json!({
            "message_type": "summary",
            "snapshot_id": snapshot.id.to_string(),
            "files_restored": outcome.files,
            "dirs_restored": outcome.dirs,
            "symlinks_restored": outcome.symlinks,
            "bytes_restored": outcome.bytes,
            "files_verified": outcome.verified,
            "databases_restored": outcome.databases,
            "safety_snapshot": outcome.safety_snapshot.map(|id| id.to_string()),
            "duration_s": seconds,
        }));
    } else if !cli.quiet {
        if let Some(id) = outcome.safety_snapshot {
            println!("safety snapshot {} holds what was replaced (tag pre-restore)", id.short());
        }
        println!(
            "restored snapshot {} to {}: {} files, {} directories, {} symlinks, {} in {}",
            snapshot.id.short(),
            args.target.display(),
            outcome.files,
            outcome.dirs,
            outcome.symlinks,
            output::size(outcome.bytes),
            output::duration(seconds)
        );
        if args.verify {
            println!("verified {} files: identical to the snapshot", outcome.verified);
        }
    }
    Ok(exit::OK)
}

/// Prints a dry run's list: one line per path (or one JSON object).
fn print_changes(cli: &Cli, outcome: &cairn::RestoreOutcome) {
    for change in &outcome.changes {
        if cli.json {
            output::json(&json!({
                "message_type": "planned",
                "action": change.action.name(),
                "path": change.path.display().to_string(),
            }));
        } else if !cli.quiet {
            println!("{:<9} {}", change.action.name(), change.path.display());
        }
    }
    if !cli.json && !cli.quiet {
        let count = |a| outcome.changes.iter().filter(|c| c.action == a).count();
        println!(
            "dry run: {} to create, {} to replace, {} unchanged; nothing was written",
            count(cairn::Action::Create),
            count(cairn::Action::Replace),
            count(cairn::Action::Unchanged)
        );
    }
}

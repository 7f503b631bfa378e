//! `cairn restore`.

use cairn::{CancelToken, RestoreOptions};
use serde_json::json;

use super::args::{Cli, RestoreArgs};
use super::progress::Display;
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &RestoreArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let snapshot = repo.find_snapshot(&args.snapshot)?;
    let options = RestoreOptions { include: args.include.clone(), verify: args.verify, threads: None };
    let started = std::time::Instant::now();
    let display = Display::new(cli.json, cli.quiet);
    let outcome = repo.restore(&snapshot, &args.target, &options, &display, cancel);
    display.finish();
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        output::json(&json!({
            "message_type": "summary",
            "snapshot_id": snapshot.id.to_string(),
            "files_restored": outcome.files,
            "dirs_restored": outcome.dirs,
            "symlinks_restored": outcome.symlinks,
            "bytes_restored": outcome.bytes,
            "files_verified": outcome.verified,
            "duration_s": seconds,
        }));
    } else if !cli.quiet {
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

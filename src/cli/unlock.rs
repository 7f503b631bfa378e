//! `cairn unlock`.

use serde_json::json;

use super::args::{Cli, UnlockArgs};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &UnlockArgs) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let report = repo.unlock(args.remove_all)?;
    if cli.json {
        output::json(&json!({"removed": report.removed, "kept": report.kept}));
    } else if !cli.quiet {
        for holder in &report.removed {
            println!("removed lock of {holder}");
        }
        for holder in &report.kept {
            println!("kept live lock of {holder} (--remove-all removes it too)");
        }
        if report.removed.is_empty() && report.kept.is_empty() {
            println!("no locks");
        }
    }
    Ok(exit::OK)
}

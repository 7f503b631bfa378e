//! `cairn copy`: snapshots from another repository into this one.

use serde_json::json;

use cairn::{CancelToken, CopyOptions};

use super::args::{Cli, CopyArgs};
use super::{CliError, exit, open_at, open_source, output, password};

pub fn run(cli: &Cli, args: &CopyArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let source = open_source(cli, &args.source, "cairn copy")?;
    let destination = match &args.to_repo {
        Some(location) => open_at(cli, location, password::for_open(cli)?)?,
        None => super::open(cli)?,
    };
    let options = CopyOptions { snapshots: args.snapshots.clone() };
    let report = destination.copy_from(&source, &options, cancel)?;
    if cli.json {
        let pairs = |list: &[(cairn::format::id::SnapshotId, cairn::format::id::SnapshotId)]| {
            list.iter()
                .map(|(from, to)| json!({"source": from.to_string(), "copy": to.to_string()}))
                .collect::<Vec<_>>()
        };
        output::json(&json!({
            "copied": pairs(&report.copied),
            "already_copied": pairs(&report.already_copied),
            "blobs_added": report.blobs_added,
            "bytes_added": report.bytes_added,
            "rechunked": report.rechunked,
        }));
    } else if !cli.quiet {
        for (from, to) in &report.copied {
            println!("copied snapshot {} as {}", from.short(), to.short());
        }
        for (from, to) in &report.already_copied {
            println!("snapshot {} was already copied as {}", from.short(), to.short());
        }
        println!(
            "{} copied, {} already there; added {} in {} blobs{}",
            report.copied.len(),
            report.already_copied.len(),
            output::size(report.bytes_added),
            report.blobs_added,
            if report.rechunked { " (files cut again: the repositories have different keys)" } else { "" }
        );
    }
    Ok(exit::OK)
}

//! `cairn repair index` and `cairn repair snapshots`.

use cairn::{CancelToken, SnapshotRepairOptions};
use serde_json::json;

use super::args::{Cli, RepairArgs, RepairCommand};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &RepairArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let repo = open(cli)?;
    match args.command {
        RepairCommand::Index => {
            let report = repo.repair_index(cancel)?;
            if cli.json {
                output::json(&json!({
                    "packs_indexed": report.packs_indexed,
                    "index_files_written": report.index_files_written,
                    "superseded": report.superseded,
                    "unreadable_packs": report.unreadable_packs.iter()
                        .map(|(id, why)| json!({ "pack": id.to_string(), "error": why }))
                        .collect::<Vec<_>>(),
                }));
            } else {
                for (id, why) in &report.unreadable_packs {
                    eprintln!("warning: pack {} left out, its header cannot be read: {why}", id.short());
                }
                if !cli.quiet {
                    println!(
                        "indexed {} packs in {} new index files, superseding {} old ones (kept in place)",
                        report.packs_indexed, report.index_files_written, report.superseded
                    );
                }
            }
        }
        RepairCommand::Snapshots { forget, read_data } => {
            let report = repo.repair_snapshots(&SnapshotRepairOptions { read_data, forget }, cancel)?;
            if cli.json {
                output::json(&json!({
                    "repaired": report.repaired.iter().map(|r| json!({
                        "original": r.original.to_string(),
                        "repaired": r.repaired.to_string(),
                        "removed": r.removed,
                    })).collect::<Vec<_>>(),
                    "unrepairable": report.unrepairable.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "intact": report.intact,
                    "forgotten": report.forgotten.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }));
            } else if !cli.quiet {
                for r in &report.repaired {
                    println!(
                        "snapshot {} repaired as {} without {} entries: {}",
                        r.original.short(),
                        r.repaired.short(),
                        r.removed.len(),
                        r.removed.join(", ")
                    );
                }
                for id in &report.unrepairable {
                    let what = if forget { "removed" } else { "kept; --forget removes it" };
                    println!("snapshot {} cannot be repaired: its root tree is lost ({what})", id.short());
                }
                println!(
                    "{} repaired, {} intact, {} originals forgotten{}",
                    report.repaired.len(),
                    report.intact,
                    report.forgotten.len(),
                    if forget { "" } else { " (originals kept; use --forget to remove them)" }
                );
            }
        }
    }
    Ok(exit::OK)
}

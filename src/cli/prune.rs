//! `cairn prune`.

use cairn::{CancelToken, PruneOptions, PruneReport};
use serde_json::{Value, json};

use super::args::{Cli, PruneArgs};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &PruneArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let report =
        repo.prune(&options(&args.max_unused, args.dry_run, args.unsafe_allow_remove_all)?, cancel)?;
    if cli.json {
        let mut value = report_json(&report);
        value["dry_run"] = Value::Bool(args.dry_run);
        output::json(&value);
    } else if !cli.quiet {
        print_report(&report, args.dry_run);
    }
    Ok(exit::OK)
}

/// Prune options from the command line's `--max-unused` (`5%` or `5`).
pub fn options(max_unused: &str, dry_run: bool, allow_empty: bool) -> Result<PruneOptions, CliError> {
    let percent: f64 = max_unused
        .trim()
        .trim_end_matches('%')
        .parse()
        .ok()
        .filter(|p: &f64| (0.0..=100.0).contains(p))
        .ok_or_else(|| {
            CliError::usage(format!("invalid --max-unused {max_unused:?}; give a percentage such as 5%"))
        })?;
    Ok(PruneOptions { max_unused_percent: percent, dry_run, allow_empty })
}

pub fn print_report(r: &PruneReport, dry_run: bool) {
    println!(
        "{} packs ({}); {} blobs used, {} unused ({})",
        r.packs,
        output::size(r.pack_bytes),
        r.used_blobs,
        r.unused_blobs,
        output::size(r.unused_bytes)
    );
    let (remove, repack, orphans) = if dry_run {
        ("would remove", "would repack", "would remove")
    } else {
        ("removed", "repacked", "removed")
    };
    println!(
        "{remove} {} unused packs, {repack} {} packs ({} copied into {} new packs), {orphans} {} orphaned packs",
        r.packs_removed,
        r.packs_repacked,
        output::size(r.bytes_repacked),
        r.packs_written,
        r.orphan_packs_removed
    );
    let freed = if dry_run { "would free" } else { "freed" };
    println!(
        "{freed} {}; {} unused left in kept packs",
        output::size(r.bytes_freed()),
        output::size(r.unused_bytes_kept)
    );
}

pub fn report_json(r: &PruneReport) -> Value {
    json!({
        "packs": r.packs,
        "pack_bytes": r.pack_bytes,
        "used_blobs": r.used_blobs,
        "unused_blobs": r.unused_blobs,
        "unused_bytes": r.unused_bytes,
        "packs_removed": r.packs_removed,
        "packs_repacked": r.packs_repacked,
        "orphan_packs_removed": r.orphan_packs_removed,
        "bytes_removed": r.bytes_removed,
        "bytes_repacked": r.bytes_repacked,
        "bytes_freed": r.bytes_freed(),
        "packs_written": r.packs_written,
        "unused_bytes_kept": r.unused_bytes_kept,
        "index_files_written": r.index_files_written,
        "index_files_removed": r.index_files_removed,
    })
}

//! `cairn check`: prints what is damaged, what it affects and what to do; exits 1 when
//! anything is damaged.

use cairn::{CancelToken, CheckOptions, Finding, ObjectKind, Problem, ReadData};
use serde_json::{Value, json};

use super::args::{CheckArgs, Cli};
use super::progress::Display;
use super::{CliError, exit, open, output};

/// Paths listed per snapshot and finding in the human report (JSON has them all).
const SHOWN_PATHS: usize = 10;

pub fn run(cli: &Cli, args: &CheckArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let read_data = match (&args.read_data_subset, args.read_data) {
        (Some(subset), _) => ReadData::parse_subset(subset)?,
        (None, true) => ReadData::All,
        (None, false) => ReadData::None,
    };
    let display = Display::new(cli.json, cli.quiet);
    let report = repo.check(&CheckOptions { read_data }, &display, cancel);
    display.finish();
    let report = report?;
    if cli.json {
        output::json(&json!({
            "damaged": report.is_damaged(),
            "snapshots": report.snapshots,
            "trees": report.trees,
            "index_files": report.index_files,
            "packs": report.packs,
            "packs_read": report.packs_read,
            "blobs_read": report.blobs_read,
            "bytes_read": report.bytes_read,
            "findings": report.findings.iter().map(finding_json).collect::<Vec<Value>>(),
        }));
    } else {
        for finding in report.findings.iter().filter(|f| f.is_damage() || !cli.quiet) {
            print_finding(finding);
        }
        if !cli.quiet {
            println!(
                "checked {} snapshots, {} trees, {} index files, {} packs; read {} packs ({}), {} blobs",
                report.snapshots,
                report.trees,
                report.index_files,
                report.packs,
                report.packs_read,
                output::size(report.bytes_read),
                report.blobs_read
            );
            if !report.is_damaged() {
                println!("no damage found");
            }
        }
    }
    if report.is_damaged() {
        let damaged = report.findings.iter().filter(|f| f.is_damage()).count();
        return Err(CliError::usage(format!(
            "the repository is damaged ({damaged} problems); see the report"
        )));
    }
    Ok(exit::OK)
}

fn print_finding(finding: &Finding) {
    let label = if finding.is_damage() { "damaged" } else { "note" };
    let pack = match finding.pack {
        Some(pack) if finding.object != ObjectKind::Pack => format!(" in pack {}", pack.short()),
        _ => String::new(),
    };
    println!("{label}: {} {}{pack}: {}", finding.object, short(&finding.id), finding.detail);
    for affected in &finding.affected {
        let more = affected.paths.len().saturating_sub(SHOWN_PATHS);
        let shown: Vec<&str> = affected.paths.iter().take(SHOWN_PATHS).map(String::as_str).collect();
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        println!("  affects snapshot {}: {}{tail}", affected.snapshot.short(), shown.join(", "));
    }
    println!("  what to do: {}", finding.advice());
}

fn finding_json(finding: &Finding) -> Value {
    json!({
        "problem": problem_name(finding.problem),
        "damage": finding.is_damage(),
        "unused": finding.unused,
        "object": finding.object.to_string(),
        "id": finding.id,
        "pack": finding.pack.map(|p| p.to_string()),
        "detail": finding.detail,
        "advice": finding.advice(),
        "affected": finding.affected.iter().map(|a| json!({
            "snapshot": a.snapshot.to_string(),
            "paths": a.paths,
        })).collect::<Vec<Value>>(),
    })
}

fn problem_name(problem: Problem) -> &'static str {
    match problem {
        Problem::DamagedSnapshot => "damaged_snapshot",
        Problem::DamagedIndex => "damaged_index",
        Problem::MissingPack => "missing_pack",
        Problem::PackLengthMismatch => "pack_length_mismatch",
        Problem::DamagedPackHeader => "damaged_pack_header",
        Problem::PackHeaderMismatch => "pack_header_mismatch",
        Problem::PackHashMismatch => "pack_hash_mismatch",
        Problem::DamagedBlob => "damaged_blob",
        Problem::MissingBlob => "missing_blob",
        Problem::DamagedTree => "damaged_tree",
        Problem::UnindexedPack => "unindexed_pack",
    }
}

fn short(id: &str) -> &str {
    if id.len() == 64 { &id[..8] } else { id }
}

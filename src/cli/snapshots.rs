//! `cairn snapshots`.

use cairn::SnapshotInfo;
use serde_json::{Value, json};

use super::args::Cli;
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let listing = repo.snapshots()?;
    for (id, error) in &listing.damaged {
        eprintln!("warning: snapshot {} cannot be read: {error}", id.short());
    }
    if cli.json {
        let list: Vec<Value> = listing.snapshots.iter().map(to_json).collect();
        output::json(&Value::Array(list));
        return Ok(exit::OK);
    }
    if cli.quiet {
        return Ok(exit::OK);
    }
    println!("{:<8}  {:<20}  {:<16}  {:<16}  {:>10}  paths", "id", "time", "host", "tags", "size");
    for info in &listing.snapshots {
        let s = &info.snapshot;
        let paths: Vec<String> = s.paths.iter().map(|p| output::path(p)).collect();
        println!(
            "{:<8}  {:<20}  {:<16}  {:<16}  {:>10}  {}",
            info.id.short(),
            output::time(s.time),
            s.hostname,
            s.tags.join(","),
            output::size(s.summary.total_bytes),
            paths.join(" ")
        );
    }
    println!("{} snapshots", listing.snapshots.len());
    Ok(exit::OK)
}

/// A snapshot as JSON, as `snapshots` and `cat snapshot` print it.
pub fn to_json(info: &SnapshotInfo) -> Value {
    let s = &info.snapshot;
    json!({
        "id": info.id.to_string(),
        "short_id": info.id.short(),
        "time": output::time_precise(s.time),
        "tree": s.tree.to_string(),
        "parent": s.parent.map(|p| p.to_string()),
        "hostname": s.hostname,
        "username": s.username,
        "paths": s.paths.iter().map(|p| output::path(p)).collect::<Vec<_>>(),
        "tags": s.tags,
        "program": s.program,
        "summary": serde_json::to_value(s.summary).unwrap_or(Value::Null),
        "meta": Value::Object(s.meta.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
    })
}

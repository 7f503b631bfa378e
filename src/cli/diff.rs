//! `cairn diff`.

use cairn::Change;
use serde_json::{Value, json};

use super::args::{Cli, DiffArgs};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &DiffArgs) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let from = repo.find_snapshot(&args.from)?;
    let to = repo.find_snapshot(&args.to)?;
    let mut changes = Vec::new();
    let stats = repo.diff(&from, &to, &mut |entry| {
        let suffix = if entry.is_dir { "/" } else { "" };
        let path = format!("{}{suffix}", output::path(&entry.path));
        if cli.json {
            changes.push(json!({ "path": path, "change": name(entry.change), "is_dir": entry.is_dir }));
        } else if !cli.quiet {
            println!("{}    {path}", letter(entry.change));
        }
        Ok(())
    })?;
    if cli.json {
        output::json(&json!({
            "from": from.id.to_string(),
            "to": to.id.to_string(),
            "changes": Value::Array(changes),
            "added": stats.added,
            "removed": stats.removed,
            "modified": stats.modified,
            "metadata_changed": stats.metadata,
        }));
    } else if !cli.quiet {
        println!(
            "{} added, {} removed, {} modified, {} with changed metadata",
            stats.added, stats.removed, stats.modified, stats.metadata
        );
    }
    Ok(exit::OK)
}

fn letter(change: Change) -> char {
    match change {
        Change::Added => '+',
        Change::Removed => '-',
        Change::Modified => 'M',
        Change::Metadata => 'U',
    }
}

fn name(change: Change) -> &'static str {
    match change {
        Change::Added => "added",
        Change::Removed => "removed",
        Change::Modified => "modified",
        Change::Metadata => "metadata",
    }
}

//! `cairn stats`.

use cairn::Repository;
use serde_json::json;

use super::args::{Cli, StatsArgs};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &StatsArgs) -> Result<u8, CliError> {
    let repo = open(cli)?;
    match &args.snapshot {
        Some(query) => snapshot(cli, &repo, query)?,
        None => repository(cli, &repo)?,
    }
    Ok(exit::OK)
}

fn snapshot(cli: &Cli, repo: &Repository, query: &str) -> Result<(), CliError> {
    let snapshot = repo.find_snapshot(query)?;
    let s = repo.snapshot_stats(&snapshot)?;
    if cli.json {
        output::json(&json!({
            "snapshot_id": snapshot.id.to_string(),
            "files": s.files,
            "dirs": s.dirs,
            "symlinks": s.symlinks,
            "restore_size": s.restore_size,
            "unique_chunks": s.unique_chunks,
            "unique_size": s.unique_size,
            "stored_size": s.stored_size,
        }));
    } else if !cli.quiet {
        println!("snapshot {}", snapshot.id.short());
        println!("  files: {}, directories: {}, symlinks: {}", s.files, s.dirs, s.symlinks);
        println!("  restore size: {}", output::size(s.restore_size));
        println!("  after deduplication: {} in {} chunks", output::size(s.unique_size), s.unique_chunks);
        println!("  stored (compressed, encrypted): {}", output::size(s.stored_size));
    }
    Ok(())
}

fn repository(cli: &Cli, repo: &Repository) -> Result<(), CliError> {
    let s = repo.repository_stats()?;
    let ratio = if s.stored_bytes > 0 { s.raw_bytes as f64 / s.stored_bytes as f64 } else { 1.0 };
    if cli.json {
        output::json(&json!({
            "snapshots": s.snapshots,
            "index_files": s.index_files,
            "packs": s.packs,
            "pack_bytes": s.pack_bytes,
            "data_blobs": s.data_blobs,
            "tree_blobs": s.tree_blobs,
            "raw_bytes": s.raw_bytes,
            "stored_bytes": s.stored_bytes,
            "compression_ratio": ratio,
        }));
    } else if !cli.quiet {
        println!("repository {}", repo.location());
        println!("  snapshots: {}", s.snapshots);
        println!("  packs: {} ({}), index files: {}", s.packs, output::size(s.pack_bytes), s.index_files);
        println!("  blobs: {} data, {} tree", s.data_blobs, s.tree_blobs);
        println!(
            "  content: {} stored as {} (compression ratio {ratio:.2})",
            output::size(s.raw_bytes),
            output::size(s.stored_bytes)
        );
    }
    Ok(())
}

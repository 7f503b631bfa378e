//! `cairn backup`.

use cairn::{BackupOptions, CancelToken, ErrorKind, ParentChoice};
use serde_json::json;

use super::args::{BackupArgs, Cli};
use super::progress::Display;
use super::{CliError, exit, init, open, output};

pub fn run(cli: &Cli, args: &BackupArgs, cancel: &CancelToken) -> Result<u8, CliError> {
    let repo = match open(cli) {
        Err(CliError::Library(e)) if args.init && e.kind() == ErrorKind::RepositoryMissing => {
            let repo = init::create(cli, &args.init_args)?;
            if args.init_args.recovery_key {
                let (_, code) = repo.add_recovery_code()?;
                super::key::show_recovery_code(cli, &code);
            }
            repo
        }
        other => other?,
    };
    let parent = match (&args.parent, args.force) {
        (_, true) => ParentChoice::None,
        (Some(query), false) => ParentChoice::Snapshot(repo.find_snapshot(query)?.id),
        (None, false) => ParentChoice::Auto,
    };
    let options = BackupOptions {
        host: args.host.clone(),
        tags: args.tags.clone(),
        excludes: args.excludes.clone(),
        parent,
        meta: parse_meta(&args.meta)?,
        threads: None,
        sqlite_mode: args.sqlite_mode,
        sqlite_paths: args.sqlite_paths.clone(),
    };
    let display = Display::new(cli.json, cli.quiet);
    let outcome = repo.backup(&args.paths, &options, &display, cancel);
    display.finish();
    let outcome = outcome?;
    let info = &outcome.snapshot;
    let s = &info.snapshot.summary;
    let seconds = duration_s(s);
    if cli.json {
        output::json(&json!({
            "message_type": "summary",
            "snapshot_id": info.id.to_string(),
            "parent": info.snapshot.parent.map(|p| p.to_string()),
            "files_new": s.files_new,
            "files_changed": s.files_changed,
            "files_unmodified": s.files_unmodified,
            "dirs_new": s.dirs_new,
            "dirs_changed": s.dirs_changed,
            "dirs_unmodified": s.dirs_unmodified,
            "data_blobs": s.data_blobs_added,
            "tree_blobs": s.tree_blobs_added,
            "data_added": s.data_added,
            "data_added_raw": s.data_added_raw,
            "bytes_read": s.bytes_read,
            "total_files_processed": s.total_files,
            "bytes_processed": s.total_bytes,
            "warnings": outcome.warnings.len(),
            "resumed_packs": outcome.resumed.packs,
            "resumed_bytes": outcome.resumed.bytes,
            "duration_s": seconds,
        }));
    } else if !cli.quiet {
        if outcome.resumed.packs > 0 {
            println!(
                "Resumed: reused {} packs ({}) an interrupted backup had stored",
                outcome.resumed.packs,
                output::size(outcome.resumed.bytes)
            );
        }
        println!(
            "Files: {} new, {} changed, {} unmodified",
            s.files_new, s.files_changed, s.files_unmodified
        );
        println!("Dirs:  {} new, {} changed, {} unmodified", s.dirs_new, s.dirs_changed, s.dirs_unmodified);
        println!(
            "Added to the repository: {} ({} of new content)",
            output::size(s.data_added),
            output::size(s.data_added_raw)
        );
        println!(
            "processed {} files, {} in {}",
            s.total_files,
            output::size(s.total_bytes),
            output::duration(seconds)
        );
        println!("snapshot {} saved", info.id.short());
    }
    if outcome.warnings.is_empty() {
        Ok(exit::OK)
    } else {
        if !cli.json {
            eprintln!(
                "warning: {} source entries could not be read completely; the snapshot is saved without them",
                outcome.warnings.len()
            );
        }
        Ok(exit::PARTIAL)
    }
}

fn duration_s(summary: &cairn::format::snapshot::Summary) -> f64 {
    let (a, b) = (summary.started, summary.finished);
    (b.secs - a.secs) as f64 + (f64::from(b.nanos) - f64::from(a.nanos)) / 1e9
}

fn parse_meta(items: &[String]) -> Result<Vec<(String, String)>, CliError> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| CliError::usage(format!("--meta {item:?} is not KEY=VALUE")))
        })
        .collect()
}

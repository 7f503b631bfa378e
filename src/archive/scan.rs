//! Counts the files and bytes a backup will look at, alongside the backup itself, so progress
//! can show totals and an ETA without delaying the first byte read.

use std::path::Path;

use crate::glob::PathFilter;
use crate::progress::Meter;

/// Walks `roots` (not following symlinks) and adds every regular file to the meter's totals;
/// stops early when `stop` says so. Unreadable entries are skipped: the backup reports them.
pub(crate) fn count(roots: &[&Path], excludes: &PathFilter, meter: &Meter, stop: &dyn Fn() -> bool) {
    let mut stack: Vec<std::path::PathBuf> = roots.iter().map(|p| p.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        if stop() {
            return;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            meter.add_total(1, meta.len());
        } else if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            for entry in entries.flatten() {
                let child = entry.path();
                if !excludes.matches(&child) {
                    stack.push(child);
                }
            }
        }
    }
    meter.finish_totals();
}

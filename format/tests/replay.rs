//! Replays every committed fuzz input through the same property checks the fuzz targets run
//! (`cairn_format::fuzzing`): the seed corpora in `fuzz/seeds/<target>/` and every input that
//! ever crashed a target, kept in `format/tests/regressions/<target>/`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used, clippy::panic)]

use std::path::Path;

use cairn_format::fuzzing::TARGETS;

/// Runs every file under `dir/<target>/` through its target; returns how many ran.
fn replay(dir: &Path) -> usize {
    let mut count = 0;
    for (target, check) in TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(outcome.is_ok(), "{} breaks a property of {target}", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn seed_corpora_replay_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(replay(&root.join("fuzz/seeds")) >= 50);
}

#[test]
fn crash_regressions_replay_cleanly() {
    replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions"));
}

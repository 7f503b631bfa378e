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

/// The dump seeds were written by hand from SPEC §16 (not by cairn), so decoding each one to
/// its end record checks the decoder against the text of the specification.
#[test]
fn sqlite_dump_seeds_are_complete_dumps() {
    use cairn_format::sqlite::{DUMP_HEADER_LEN, DumpHeader, RECORD_PREFIX_LEN, Record, record_len};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/decode_sqlite_dump");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        DumpHeader::decode(&bytes[..DUMP_HEADER_LEN]).unwrap();
        let mut rest = &bytes[DUMP_HEADER_LEN..];
        let mut last = None;
        while !rest.is_empty() {
            let prefix = rest[..RECORD_PREFIX_LEN].try_into().unwrap();
            let len = record_len(prefix, (rest.len() - RECORD_PREFIX_LEN) as u64).unwrap();
            last = Some(Record::decode(&rest[RECORD_PREFIX_LEN..RECORD_PREFIX_LEN + len]).unwrap());
            rest = &rest[RECORD_PREFIX_LEN + len..];
        }
        assert!(matches!(last, Some(Record::End { .. })));
        seen += 1;
    }
    assert!(seen >= 4);
}

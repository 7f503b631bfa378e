//! `check` finds exactly what is damaged and what it affects; `repair` gets back everything
//! that is still there. Damage is made on disk, byte by byte, as a failing disk or a hostile
//! store would.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use cairn::format::envelope::BlobType;
use cairn::{
    CancelToken, CheckOptions, CheckReport, ErrorKind, NoProgress, Problem, ReadData, RestoreOptions,
    SnapshotInfo,
};
use tempfile::TempDir;

use crate::harness::{TestRepo, random_bytes, write};

/// Two snapshots backed up separately, so each has its own data and tree packs.
struct Fixture {
    repo: TestRepo,
    _src: TempDir,
    a: SnapshotInfo,
    b: SnapshotInfo,
    packs_a: Vec<PathBuf>,
}

fn pack_files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for sub in fs::read_dir(dir.join("data")).into_iter().flatten().flatten() {
        for file in fs::read_dir(sub.path()).into_iter().flatten().flatten() {
            out.insert(file.path());
        }
    }
    out
}

fn fixture() -> Fixture {
    let repo = TestRepo::new();
    let src = TempDir::new().unwrap();
    write(&src.path().join("a/one.bin"), &random_bytes(3 << 20, 1));
    write(&src.path().join("a/sub/two.bin"), &random_bytes(1000, 2));
    write(&src.path().join("a/sub/three.bin"), &random_bytes(1000, 3));
    let a = repo.backup(&[&src.path().join("a")]).snapshot;
    let packs_a: Vec<PathBuf> = pack_files(repo.path()).into_iter().collect();
    write(&src.path().join("b/four.bin"), &random_bytes(2 << 20, 4));
    let b = repo.backup(&[&src.path().join("b")]).snapshot;
    Fixture { repo, _src: src, a, b, packs_a }
}

impl Fixture {
    fn check(&self, read_data: ReadData) -> CheckReport {
        self.repo.reopen().check(&CheckOptions { read_data }, &NoProgress, &CancelToken::new()).unwrap()
    }

    fn restore(&self, snapshot: &SnapshotInfo) -> cairn::Result<cairn::RestoreOutcome> {
        let target = TempDir::new().unwrap();
        self.repo.reopen().restore(
            snapshot,
            target.path(),
            &RestoreOptions::default(),
            &NoProgress,
            &CancelToken::new(),
        )
    }

    /// Snapshot A's packs holding blobs of `blob_type` (data blobs may be spread over two).
    fn packs_of_a(&self, blob_type: BlobType) -> Vec<PathBuf> {
        let repo = self.repo.reopen();
        self.packs_a
            .iter()
            .filter(|p| {
                let (_, header) = repo.pack_header(p.file_name().unwrap().to_str().unwrap()).unwrap();
                header.entries[0].blob_type == blob_type
            })
            .cloned()
            .collect()
    }

    fn pack_of_a(&self, blob_type: BlobType) -> PathBuf {
        self.packs_of_a(blob_type).remove(0)
    }
}

fn problems(report: &CheckReport) -> Vec<Problem> {
    let mut list: Vec<Problem> =
        report.findings.iter().filter(|f| f.problem.is_damage()).map(|f| f.problem).collect();
    list.sort_by_key(|p| format!("{p:?}"));
    list
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_healthy_repository_checks_clean() {
    let f = fixture();
    let report = f.check(ReadData::All);
    assert!(!report.is_damaged(), "{:?}", report.findings);
    assert!(report.findings.is_empty());
    assert_eq!((report.snapshots, report.packs_read), (2, report.packs));
    assert!(report.blobs_read > 4);
}

/// One flipped bit in a data blob: the structure check cannot see it, the data check names
/// that blob (and its pack's hash) and the one path it belongs to; snapshot B restores.
#[test]
fn flipped_bit_in_a_data_blob_is_named_with_what_it_affects() {
    let f = fixture();
    let pack = f.pack_of_a(BlobType::Data);
    flip(&pack, 100);
    assert!(!f.check(ReadData::None).is_damaged());
    let report = f.check(ReadData::All);
    assert_eq!(problems(&report), [Problem::DamagedBlob, Problem::PackHashMismatch]);
    let blob = report.findings.iter().find(|x| x.problem == Problem::DamagedBlob).unwrap();
    assert_eq!(blob.affected.len(), 1);
    assert_eq!(blob.affected[0].snapshot, f.a.id);
    assert_eq!(blob.affected[0].paths.len(), 1);
    assert!(
        ["/a/one.bin", "/a/sub/two.bin", "/a/sub/three.bin"].contains(&blob.affected[0].paths[0].as_str())
    );
    assert!(f.restore(&f.b).is_ok());
    assert_eq!(f.restore(&f.a).unwrap_err().kind(), ErrorKind::Corrupt);
}

/// The pack header is only needed to rebuild the index: damage to it is reported, and
/// restores, which go through the index, still work.
#[test]
fn flipped_bit_in_a_pack_header_is_reported() {
    let f = fixture();
    let pack = f.pack_of_a(BlobType::Data);
    let len = fs::read(&pack).unwrap().len();
    flip(&pack, len - 20);
    let report = f.check(ReadData::None);
    assert_eq!(problems(&report), [Problem::DamagedPackHeader]);
    assert!(f.restore(&f.a).is_ok() && f.restore(&f.b).is_ok());
}

#[test]
fn flipped_bit_in_a_tree_is_named_and_the_other_snapshot_restores() {
    let f = fixture();
    let pack = f.pack_of_a(BlobType::Tree);
    flip(&pack, 60);
    let report = f.check(ReadData::All);
    assert!(problems(&report).contains(&Problem::DamagedTree), "{:?}", report.findings);
    assert!(problems(&report).contains(&Problem::DamagedBlob));
    let tree = report.findings.iter().find(|x| x.problem == Problem::DamagedTree).unwrap();
    assert!(tree.affected.iter().all(|a| a.snapshot == f.a.id) && !tree.affected.is_empty(), "{tree:?}");
    assert!(f.restore(&f.b).is_ok());
    assert_eq!(f.restore(&f.a).unwrap_err().kind(), ErrorKind::Corrupt);
}

#[test]
fn flipped_bit_in_a_snapshot_is_named_and_the_other_restores() {
    let f = fixture();
    let file = f.repo.path().join("snapshots").join(f.a.id.to_string());
    flip(&file, 40);
    let report = f.check(ReadData::All);
    assert_eq!(problems(&report), [Problem::DamagedSnapshot]);
    assert_eq!(report.findings[0].id, f.a.id.to_string());
    assert!(f.restore(&f.b).is_ok());
}

/// A damaged index hides the blobs it named; `repair index` rebuilds it from the packs and
/// everything restores again.
#[test]
fn damaged_index_is_reported_and_repair_index_recovers_everything() {
    let f = fixture();
    let index_files: Vec<PathBuf> =
        fs::read_dir(f.repo.path().join("index")).unwrap().map(|e| e.unwrap().path()).collect();
    for file in &index_files {
        flip(file, 30);
    }
    let report = f.check(ReadData::None);
    let found = problems(&report);
    assert!(found.contains(&Problem::DamagedIndex) && found.contains(&Problem::MissingBlob), "{found:?}");
    assert!(report.findings.iter().any(|x| x.problem == Problem::UnindexedPack));
    assert!(f.restore(&f.a).is_err());
    let repair = f.repo.reopen().repair_index(&CancelToken::new()).unwrap();
    assert_eq!(repair.packs_indexed, pack_files(f.repo.path()).len() as u64);
    assert!(repair.unreadable_packs.is_empty());
    assert!(!f.check(ReadData::All).is_damaged());
    assert!(f.restore(&f.a).is_ok() && f.restore(&f.b).is_ok());
    for file in &index_files {
        assert!(file.exists(), "repair deletes nothing");
    }
}

#[test]
fn truncated_pack_is_a_length_mismatch() {
    let f = fixture();
    let pack = f.pack_of_a(BlobType::Data);
    let bytes = fs::read(&pack).unwrap();
    fs::write(&pack, &bytes[..bytes.len() / 2]).unwrap();
    let report = f.check(ReadData::None);
    assert!(problems(&report).contains(&Problem::PackLengthMismatch), "{:?}", report.findings);
    let finding = report.findings.iter().find(|x| x.problem == Problem::PackLengthMismatch).unwrap();
    assert_eq!(finding.affected.len(), 1, "its blobs' files are named: {finding:?}");
    assert_eq!(f.restore(&f.a).unwrap_err().kind(), ErrorKind::Corrupt);
}

/// A lost pack: check names the files it took; `repair snapshots` writes a snapshot without
/// them (keeping the original), which restores; `--forget` removes the original.
#[test]
fn deleted_pack_is_named_and_repair_snapshots_saves_the_rest() {
    let f = fixture();
    let packs = f.packs_of_a(BlobType::Data);
    for pack in &packs {
        fs::remove_file(pack).unwrap();
    }
    let report = f.check(ReadData::None);
    assert!(problems(&report).iter().all(|p| *p == Problem::MissingPack));
    assert_eq!(problems(&report).len(), packs.len());
    let lost: BTreeSet<String> =
        report.findings.iter().flat_map(|x| x.affected.iter().flat_map(|a| a.paths.clone())).collect();
    assert_eq!(lost.len(), 3, "{lost:?}");
    let repo = f.repo.reopen();
    let options = cairn::SnapshotRepairOptions { read_data: false, forget: false };
    let repair = repo.repair_snapshots(&options, &CancelToken::new()).unwrap();
    assert_eq!((repair.repaired.len(), repair.intact), (1, 1));
    assert_eq!(repair.repaired[0].original, f.a.id);
    let listing = repo.snapshots().unwrap();
    assert_eq!(listing.snapshots.len(), 3, "the original is kept");
    let repaired = listing.snapshots.iter().find(|s| s.id == repair.repaired[0].repaired).unwrap();
    assert!(repaired.snapshot.tags.contains(&"repaired".to_string()));
    assert!(f.restore(repaired).is_ok());
    let forget = cairn::SnapshotRepairOptions { read_data: false, forget: true };
    let second = repo.repair_snapshots(&forget, &CancelToken::new()).unwrap();
    assert_eq!(second.forgotten, [f.a.id]);
    assert_eq!(repo.snapshots().unwrap().snapshots.len(), 2);
}

/// Two blobs of equal length in one pack, one copied over the other: the copy fails its
/// AAD (the id is bound), so it is not accepted as the other blob.
#[test]
fn blob_copied_under_another_id_is_detected() {
    let f = fixture();
    let repo = f.repo.reopen();
    let mut same = Vec::new();
    for pack in f.packs_of_a(BlobType::Data) {
        let (_, header) = repo.pack_header(pack.file_name().unwrap().to_str().unwrap()).unwrap();
        same.extend(header.entries.into_iter().filter(|e| e.raw_len == 1000).map(|e| (pack.clone(), e)));
    }
    assert_eq!(same.len(), 2, "two 1000-byte files, stored uncompressed, seal to equal lengths");
    let ((src_pack, src), (dst_pack, dst)) = (&same[0], &same[1]);
    let copy =
        fs::read(src_pack).unwrap()[src.offset as usize..(src.offset + src.sealed_len) as usize].to_vec();
    let mut bytes = fs::read(dst_pack).unwrap();
    bytes[dst.offset as usize..(dst.offset + dst.sealed_len) as usize].copy_from_slice(&copy);
    fs::write(dst_pack, bytes).unwrap();
    let report = f.check(ReadData::All);
    let damaged: Vec<&str> =
        report.findings.iter().filter(|x| x.problem == Problem::DamagedBlob).map(|x| x.id.as_str()).collect();
    assert_eq!(damaged, [dst.id.to_string()]);
}

/// Files of another repository brought in: its pack is an orphan whose header does not open
/// here (so `repair index` leaves it out), its snapshot is damaged; nothing is accepted.
#[test]
fn pack_and_snapshot_from_another_repository_are_rejected() {
    let f = fixture();
    let other = fixture();
    let foreign_pack = other.pack_of_a(BlobType::Data);
    let relative = foreign_pack.strip_prefix(other.repo.path()).unwrap();
    fs::create_dir_all(f.repo.path().join(relative).parent().unwrap()).unwrap();
    fs::copy(&foreign_pack, f.repo.path().join(relative)).unwrap();
    let foreign_snapshot = other.repo.path().join("snapshots").join(other.a.id.to_string());
    fs::copy(&foreign_snapshot, f.repo.path().join("snapshots").join(other.a.id.to_string())).unwrap();
    let report = f.check(ReadData::All);
    assert_eq!(problems(&report), [Problem::DamagedSnapshot]);
    assert!(report.findings.iter().any(|x| x.problem == Problem::UnindexedPack));
    let repair = f.repo.reopen().repair_index(&CancelToken::new()).unwrap();
    assert_eq!(repair.unreadable_packs.len(), 1);
    assert!(f.restore(&f.a).is_ok());
}

/// Partial data checks: the parts 1/3, 2/3 and 3/3 together read every pack exactly once.
#[test]
fn read_data_subsets_cover_every_pack_once() {
    let f = fixture();
    let all = f.check(ReadData::All).packs_read;
    let parts: u64 = (1..=3).map(|n| f.check(ReadData::Subset { n, m: 3 }).packs_read).sum();
    assert_eq!(parts, all);
    assert_eq!(ReadData::parse_subset("2/5").unwrap(), ReadData::Subset { n: 2, m: 5 });
    assert_eq!(ReadData::parse_subset("10%").unwrap(), ReadData::Percent(10.0));
    assert!(ReadData::parse_subset("0/5").is_err() && ReadData::parse_subset("6/5").is_err());
    assert!(ReadData::parse_subset("0%").is_err() && ReadData::parse_subset("x").is_err());
}

/// After `repair snapshots --read-data --forget`, no snapshot needs the damaged blob: check
/// still reports it (and its pack's hash), as unused, and the repository checks clean.
#[test]
fn damage_no_snapshot_needs_after_repair_is_unused() {
    let f = fixture();
    flip(&f.pack_of_a(BlobType::Data), 100);
    assert!(f.check(ReadData::All).is_damaged());
    let repo = f.repo.reopen();
    let options = cairn::SnapshotRepairOptions { read_data: true, forget: true };
    let repair = repo.repair_snapshots(&options, &CancelToken::new()).unwrap();
    assert_eq!((repair.repaired.len(), repair.forgotten.len()), (1, 1));
    let report = f.check(ReadData::All);
    assert!(!report.is_damaged(), "{:?}", report.findings);
    let unused: BTreeSet<String> =
        report.findings.iter().filter(|x| x.unused).map(|x| format!("{:?}", x.problem)).collect();
    assert_eq!(unused, ["DamagedBlob", "PackHashMismatch"].map(String::from).into());
    let repaired = repo.find_snapshot(&repair.repaired[0].repaired.to_string()).unwrap();
    assert!(f.restore(&repaired).is_ok() && f.restore(&f.b).is_ok());
}

/// While a damaged original is kept, `latest` is its repaired copy, which restores.
#[test]
fn repaired_copy_of_the_latest_snapshot_becomes_latest() {
    let f = fixture();
    let b_packs: Vec<PathBuf> =
        pack_files(f.repo.path()).into_iter().filter(|p| !f.packs_a.contains(p)).collect();
    let repo = f.repo.reopen();
    let data_pack = b_packs
        .iter()
        .find(|p| {
            let (_, header) = repo.pack_header(p.file_name().unwrap().to_str().unwrap()).unwrap();
            header.entries[0].blob_type == BlobType::Data
        })
        .unwrap();
    fs::remove_file(data_pack).unwrap();
    let options = cairn::SnapshotRepairOptions { read_data: false, forget: false };
    let repair = repo.repair_snapshots(&options, &CancelToken::new()).unwrap();
    assert_eq!(repair.repaired[0].original, f.b.id);
    let latest = repo.find_snapshot("latest").unwrap();
    assert_eq!(latest.id, repair.repaired[0].repaired);
    assert!(f.restore(&latest).is_ok());
}

/// A snapshot whose root tree is lost cannot be rewritten; `--forget` removes it, and only it.
#[test]
fn forget_removes_a_snapshot_whose_root_tree_is_lost() {
    let f = fixture();
    let repo = f.repo.reopen();
    let pack = f.pack_of_a(BlobType::Tree);
    let (_, header) = repo.pack_header(pack.file_name().unwrap().to_str().unwrap()).unwrap();
    let root = header.entries.iter().find(|e| e.id == f.a.snapshot.tree.0).unwrap();
    flip(&pack, root.offset as usize + 30);
    let keep = cairn::SnapshotRepairOptions { read_data: false, forget: false };
    let repair = repo.repair_snapshots(&keep, &CancelToken::new()).unwrap();
    assert_eq!((repair.unrepairable.as_slice(), repair.forgotten.len()), ([f.a.id].as_slice(), 0));
    let forget = cairn::SnapshotRepairOptions { read_data: false, forget: true };
    let repair = repo.repair_snapshots(&forget, &CancelToken::new()).unwrap();
    assert_eq!(repair.forgotten, [f.a.id]);
    let left: Vec<_> = repo.snapshots().unwrap().snapshots.iter().map(|s| s.id).collect();
    assert_eq!(left, [f.b.id]);
}

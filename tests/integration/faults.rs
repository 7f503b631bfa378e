//! The backup / restore / check / forget+prune cycle on a storage that misbehaves by a seeded
//! plan (`cairn::storage::faults`): transient faults are survived, permanent ones fail the
//! operation cleanly and leave the repository consistent.

use std::path::Path;

use cairn::storage::StorageOptions;
use cairn::storage::faults::FaultPlan;
use cairn::{
    BackupOptions, CancelToken, Credentials, ErrorKind, ForgetOptions, NoProgress, Password, Repository,
};
use tempfile::TempDir;

use crate::harness::{FAST_KDF, PASSWORD, random_bytes, write};
use crate::prune::{assert_checks_clean, assert_restores};
use crate::servers::test_retry_policy;

/// Every transient fault the layer has, often, on every operation, and a few reads of packs
/// damaged in transit. Those are placed (the 5th, 23rd and 61st pack read), not drawn: two
/// damaged downloads of the same bytes in a row look exactly like damage in storage, which
/// is reported, so a random plan would sometimes (rightly) fail the cycle.
fn transient_plan(seed: u64) -> String {
    format!(
        "seed={seed};transient@write:p=0.15;error-after-write@write:p=0.1;transient@read:p=0.1;\
         bitflip@read/data:nth=5;bitflip@read/data:nth=23;bitflip@read/data:nth=61;transient@list:p=0.15;\
         list-duplicate@list:p=0.2;transient@stat:p=0.1;transient@remove:p=0.2;delay=2@any:p=0.02"
    )
}

fn open_with(repo_dir: &Path, plan: &str) -> Repository {
    let options = StorageOptions {
        faults: Some(FaultPlan::parse(plan).unwrap()),
        retry: test_retry_policy(),
        ..StorageOptions::default()
    };
    let storage = cairn::storage::open(repo_dir.to_str().unwrap(), &options).unwrap();
    Repository::open(storage, &Credentials::Password(Password::from(PASSWORD))).unwrap()
}

fn open_plain(repo_dir: &Path) -> Repository {
    let storage = cairn::storage::open_location(repo_dir.to_str().unwrap()).unwrap();
    Repository::open(storage, &Credentials::Password(Password::from(PASSWORD))).unwrap()
}

fn init(repo_dir: &Path) {
    let storage = cairn::storage::open_location(repo_dir.to_str().unwrap()).unwrap();
    let options = cairn::InitOptions { kdf: FAST_KDF, ..cairn::InitOptions::default() };
    Repository::init(storage, &Password::from(PASSWORD), &options).unwrap();
}

fn generation(data: &Path, n: u64) {
    write(&data.join("db.bin"), &random_bytes(2 << 20, 40 + n));
    write(&data.join("media/photo.bin"), &random_bytes(1 << 20, 7));
    write(&data.join(format!("media/new-{n}.bin")), &random_bytes(600_000, 60 + n));
}

/// A new repository, and a source directory holding the first generation of data.
struct World {
    _dir: TempDir,
    repo_dir: std::path::PathBuf,
    src: TempDir,
    data: std::path::PathBuf,
}

impl World {
    fn new() -> World {
        let dir = TempDir::new().unwrap();
        let repo_dir = dir.path().join("repo");
        init(&repo_dir);
        let src = TempDir::new().unwrap();
        let data = src.path().join("data");
        generation(&data, 1);
        World { _dir: dir, repo_dir, src, data }
    }
}

fn backup(repo: &Repository, data: &Path) -> cairn::Result<cairn::BackupOutcome> {
    repo.backup(&[data.to_path_buf()], &BackupOptions::default(), &NoProgress, &CancelToken::new())
}

#[test]
fn transient_faults_are_survived_by_the_whole_cycle() {
    for seed in [1, 2, 3] {
        let world = World::new();
        let (repo_dir, data, src) = (&world.repo_dir, &world.data, world.src.path());
        let repo = open_with(repo_dir, &transient_plan(seed));
        backup(&repo, data).unwrap_or_else(|e| panic!("seed {seed}: first backup: {e}"));
        let keep = src.join("kept/data");
        generation(data, 2);
        crate::harness::copy_dir(data, &keep);
        let second =
            backup(&repo, data).unwrap_or_else(|e| panic!("seed {seed}: second backup: {e}")).snapshot;
        assert_restores(&repo, &second, data);
        assert_checks_clean(&repo);
        let retention =
            cairn::format::policy::Retention { keep_last: 1, ..cairn::format::policy::Retention::default() };
        let forget = ForgetOptions { retention: Some(retention), ..ForgetOptions::default() };
        repo.forget(&forget).unwrap_or_else(|e| panic!("seed {seed}: forget: {e}"));
        repo.prune(&cairn::PruneOptions::default(), &CancelToken::new())
            .unwrap_or_else(|e| panic!("seed {seed}: prune: {e}"));
        let clean = open_plain(repo_dir);
        assert_checks_clean(&clean);
        assert_restores(&clean, &second, &keep);
    }
}

/// Each permanent fault fails the operation with the error kind a caller branches on; the
/// repository then checks clean, the earlier snapshot restores, and the same operation
/// without the fault succeeds.
#[test]
fn permanent_faults_fail_cleanly_and_lose_nothing() {
    let cases: [(&str, ErrorKind); 5] = [
        ("permanent@write/data:nth=2", ErrorKind::Storage),
        ("full@write:nth=3", ErrorKind::StorageFull),
        ("unauthorized@read/index:nth=1", ErrorKind::Auth),
        ("transient@write/snapshots:always", ErrorKind::Network),
        ("permanent@list/index:nth=2", ErrorKind::Storage),
    ];
    for (plan, expected) in cases {
        let world = World::new();
        let (repo_dir, data, src) = (&world.repo_dir, &world.data, world.src.path());
        let first = backup(&open_plain(repo_dir), data).unwrap().snapshot;
        let kept = src.join("kept/data");
        crate::harness::copy_dir(data, &kept);
        generation(data, 2);
        let error = backup(&open_with(repo_dir, plan), data).expect_err(plan);
        assert_eq!(error.kind(), expected, "{plan}: {error}");
        assert_eq!(error.to_string().lines().count(), 1, "{plan}: one line: {error}");

        let clean = open_plain(repo_dir);
        assert_checks_clean(&clean);
        assert_restores(&clean, &first, &kept);
        let second = backup(&clean, data).unwrap_or_else(|e| panic!("{plan}: re-run: {e}")).snapshot;
        assert_restores(&clean, &second, data);
    }
}

/// A backend that acknowledges a pack upload and drops it: `check` names the missing pack,
/// `repair index` forgets it, and the next backup stores its data again.
#[test]
fn a_dropped_pack_is_found_by_check_and_healed_by_the_next_backup() {
    let world = World::new();
    let (repo_dir, data) = (&world.repo_dir, &world.data);
    backup(&open_with(repo_dir, "drop-write@write/data:nth=1"), data).unwrap();
    let clean = open_plain(repo_dir);
    let report = clean
        .check(&cairn::CheckOptions { read_data: cairn::ReadData::None }, &NoProgress, &CancelToken::new())
        .unwrap();
    assert!(report.is_damaged(), "the lost pack is reported");
    clean.repair_index(&CancelToken::new()).unwrap();
    let healed = backup(&clean, data).unwrap().snapshot;
    assert_restores(&clean, &healed, data);
    assert_checks_clean(&clean);
}

/// A storage whose listings lag behind its writes, as Google Drive's search may; a backup's
/// snapshot file is written well after its index file (a delay on that write), and a prune
/// starts at once. Told nothing of the lag, the prune plans without the new snapshot, but
/// its last check lists neither its own new index nor the old ones' removal, so it removes
/// nothing and fails: safe, never useful. Told the lag, it waits it out, sees the snapshot,
/// removes nothing any snapshot needs, and a later forget + prune frees space as usual.
#[test]
fn prune_waits_out_a_lagging_listing() {
    const LAG: std::time::Duration = std::time::Duration::from_millis(800);
    let plan = format!("list-lag={}@list;delay=1100@write/snapshots", LAG.as_millis());
    let open = |world: &World, told: std::time::Duration| {
        let options = StorageOptions {
            faults: Some(FaultPlan::parse(&plan).unwrap()),
            retry: test_retry_policy(),
            listing_lag: Some(told),
            ..StorageOptions::default()
        };
        let storage = cairn::storage::open(world.repo_dir.to_str().unwrap(), &options).unwrap();
        Repository::open(storage, &Credentials::Password(Password::from(PASSWORD))).unwrap()
    };
    let second_backup_then_prune = |repo: &Repository, world: &World| {
        backup(repo, &world.data).unwrap();
        std::thread::sleep(LAG * 2);
        generation(&world.data, 2);
        backup(repo, &world.data).unwrap();
        repo.prune(&cairn::PruneOptions::default(), &CancelToken::new())
    };

    let unaware = World::new();
    let refused = second_backup_then_prune(&open(&unaware, std::time::Duration::ZERO), &unaware).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Locked, "{refused}");
    let repo = open_plain(&unaware.repo_dir);
    assert_checks_clean(&repo);
    assert_restores(&repo, &repo.find_snapshot("latest").unwrap(), &unaware.data);

    let aware = World::new();
    let repo = open(&aware, LAG);
    let started = std::time::Instant::now();
    let report = second_backup_then_prune(&repo, &aware).unwrap();
    assert!(started.elapsed() >= LAG * 5, "backups, then the prune's three waits");
    assert_eq!(report.packs_removed + report.packs_repacked, 0, "{report:?}");
    let keep_last = cairn::format::policy::Retention { keep_last: 1, ..Default::default() };
    repo.forget(&ForgetOptions { retention: Some(keep_last), ..ForgetOptions::default() }).unwrap();
    let report = repo.prune(&cairn::PruneOptions::default(), &CancelToken::new()).unwrap();
    assert!(report.bytes_removed > 0, "{report:?}");
    let kept = open_plain(&aware.repo_dir);
    assert_checks_clean(&kept);
    assert_restores(&kept, &kept.find_snapshot("latest").unwrap(), &aware.data);
}

//! Crash safety: `cairn` killed at every named step of backup, forget and prune, and by
//! SIGKILL at seeded random times, always leaves a repository that opens, checks clean
//! (orphans allowed), restores every snapshot it still lists bit-exact, holds nothing
//! half-written under a final name, and lets the killed command run again to completion.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use cairn::format::id::SnapshotId;
use cairn::{CancelToken, CheckOptions, NoProgress, ReadData, Repository, RestoreOptions};
use tempfile::TempDir;

use crate::harness::{PASSWORD, TestRepo, copy_dir, random_bytes, write};

/// A repository, the directory it backs up, and the content each snapshot must restore to.
struct World {
    repo: TestRepo,
    _src: TempDir,
    data: PathBuf,
    states: TempDir,
    /// Snapshot → a copy of what `data` held when it was taken.
    expected: BTreeMap<SnapshotId, PathBuf>,
    changes: u64,
}

impl World {
    fn new() -> World {
        let src = TempDir::new().unwrap();
        let data = src.path().join("data");
        for i in 0..6 {
            write(&data.join(format!("f{i}.bin")), &random_bytes(1 << 20, i));
        }
        let mut world = World {
            repo: TestRepo::new(),
            _src: src,
            data,
            states: TempDir::new().unwrap(),
            expected: BTreeMap::new(),
            changes: 0,
        };
        for _ in 0..3 {
            world.change();
            world.run_to_completion(&["backup"]);
        }
        world
    }

    /// Changes the source a little, as a day of app use would.
    fn change(&mut self) {
        self.changes += 1;
        let n = self.changes;
        write(&self.data.join(format!("f{}.bin", n % 6)), &random_bytes(1 << 20, 1000 + n));
        write(&self.data.join(format!("note{n}.txt")), format!("change {n}\n").repeat(100).as_bytes());
    }

    fn cairn(&self, args: &[&str]) -> Process {
        let mut cmd = Process::cargo_bin("cairn").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CAIRN_REPOSITORY", self.repo.path())
            .env("CAIRN_PASSWORD", PASSWORD)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if args == ["backup"] {
            cmd.arg(&self.data);
        }
        cmd
    }

    /// Runs a command that must succeed, then records any new snapshot.
    fn run_to_completion(&mut self, args: &[&str]) {
        let output = self.cairn(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        self.adopt_new_snapshots();
        self.expected.retain(|id, _| self.repo.path().join("snapshots").join(id.to_string()).exists());
    }

    /// A snapshot not yet known was taken of the current state of `data`.
    fn adopt_new_snapshots(&mut self) {
        let listed = self.repo.reopen().snapshots().unwrap().snapshots;
        for info in listed {
            if !self.expected.contains_key(&info.id) {
                let copy = self.states.path().join(info.id.to_string());
                copy_dir(&self.data, &copy);
                self.expected.insert(info.id, copy);
            }
        }
    }

    /// Every invariant a crash must not break.
    fn assert_invariants(&mut self, context: &str) {
        let repo = self.repo.reopen();
        let listing = repo.snapshots().unwrap();
        assert!(listing.damaged.is_empty(), "{context}: damaged snapshots {:?}", listing.damaged);
        // A snapshot written just before the kill is of the current source.
        self.adopt_new_snapshots();
        self.expected.retain(|id, _| listing.snapshots.iter().any(|s| s.id == *id));
        for info in &listing.snapshots {
            assert_restores_content(&repo, info, &self.expected[&info.id], context);
        }
        let options = CheckOptions { read_data: ReadData::All };
        let report = repo.check(&options, &NoProgress, &CancelToken::new()).unwrap();
        assert!(!report.is_damaged(), "{context}: {:#?}", report.findings);
        assert_no_half_written_files(self.repo.path(), context);
    }
}

fn assert_restores_content(repo: &Repository, info: &cairn::SnapshotInfo, expected: &Path, context: &str) {
    let target = TempDir::new().unwrap();
    let options = RestoreOptions { verify: true, ..RestoreOptions::default() };
    repo.restore(info, target.path(), &options, &NoProgress, &CancelToken::new())
        .unwrap_or_else(|e| panic!("{context}: snapshot {} does not restore: {e}", info.id.short()));
    assert_same_content(expected, &target.path().join("data"), context);
}

/// Same names and the same bytes (modes and times are the round-trip tests' business).
fn assert_same_content(expected: &Path, actual: &Path, context: &str) {
    let listing = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    };
    assert_eq!(listing(expected), listing(actual), "{context}: entries of {}", actual.display());
    for name in listing(expected) {
        let (a, b) = (expected.join(&name), actual.join(&name));
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{context}: {}", b.display());
    }
}

/// Files under the final directories carry their content's id as name: a temporary or
/// partial file there would be a write that is not atomic.
fn assert_no_half_written_files(repo: &Path, context: &str) {
    for dir in ["data", "index", "snapshots", "keys", "locks"] {
        let mut pending = vec![repo.join(dir)];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let name = path.file_name().unwrap().to_str().unwrap();
                let is_id = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
                assert!(is_id, "{context}: {} is not a finished file", path.display());
                let bytes = std::fs::read(&path).unwrap();
                assert_eq!(
                    blake3::hash(&bytes).to_hex().as_str(),
                    name,
                    "{context}: {} is partial",
                    path.display()
                );
            }
        }
    }
}

/// Runs `args` with the process aborted at `point`; it must have been reached.
fn crash_at(world: &World, point: &str, args: &[&str]) {
    let output = world.cairn(args).env("CAIRN_CRASHPOINT", point).output().unwrap();
    assert!(!output.status.success(), "{point}: the crash point was not reached");
}

const BACKUP_POINTS: [&str; 4] =
    ["backup-after-pack", "backup-after-index", "backup-before-snapshot", "backup-after-snapshot"];
const FORGET_POINTS: [&str; 2] = ["lock-exclusive-acquired", "forget-after-remove"];
const PRUNE_POINTS: [&str; 5] = [
    "lock-exclusive-acquired",
    "prune-after-repack",
    "prune-after-index",
    "prune-after-index-removal",
    "prune-after-pack-removal",
];

#[test]
fn backup_killed_at_each_step_leaves_a_consistent_repository() {
    for point in BACKUP_POINTS {
        let mut world = World::new();
        world.change();
        crash_at(&world, point, &["backup"]);
        world.assert_invariants(point);
        world.run_to_completion(&["backup"]);
        world.assert_invariants(&format!("{point}, run again"));
    }
}

#[test]
fn forget_killed_at_each_step_leaves_a_consistent_repository() {
    for point in FORGET_POINTS {
        let mut world = World::new();
        crash_at(&world, point, &["forget", "--keep-last", "1"]);
        world.assert_invariants(point);
        world.run_to_completion(&["forget", "--keep-last", "1"]);
        assert_eq!(world.expected.len(), 1);
        world.assert_invariants(&format!("{point}, run again"));
    }
}

/// Prune killed at each step; then the forgotten data is backed up again, which must store
/// it anew rather than count on packs the prune removed (Borg #9748).
#[test]
fn prune_killed_at_each_step_leaves_a_consistent_repository() {
    for point in PRUNE_POINTS {
        let mut world = World::new();
        let oldest = world.expected.values().next().unwrap().clone();
        world.run_to_completion(&["forget", "--keep-last", "1"]);
        crash_at(&world, point, &["prune", "--max-unused", "0%"]);
        world.assert_invariants(point);
        world.run_to_completion(&["prune", "--max-unused", "0%"]);
        world.assert_invariants(&format!("{point}, run again"));
        // Bring the oldest state back: its chunks were in packs prune removed.
        std::fs::remove_dir_all(&world.data).unwrap();
        copy_dir(&oldest, &world.data);
        world.run_to_completion(&["backup"]);
        world.assert_invariants(&format!("{point}, then the forgotten data backed up again"));
    }
}

/// xorshift: seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// SIGKILL at seeded random moments of backups and of forget + prune: 50 iterations.
#[test]
fn sigkill_at_random_times_never_breaks_the_repository() {
    const ITERATIONS: u64 = 50;
    let seed = std::env::var("CAIRN_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_cafe);
    let mut rng = Rng(seed);
    let mut world = World::new();
    // How long each command takes, so kills land inside it.
    let mut took = [Duration::from_millis(300), Duration::from_millis(300)];
    let mut killed = 0;
    for iteration in 0..ITERATIONS {
        let which = usize::from(rng.below(3) == 0);
        let args: &[&str] = if which == 0 { &["backup"] } else { &["forget", "--keep-last", "3", "--prune"] };
        if which == 0 {
            world.change();
        }
        let delay =
            Duration::from_micros(rng.below(u64::try_from(took[which].as_micros()).unwrap_or(1) * 6 / 5));
        let started = Instant::now();
        let mut child = world.cairn(args).spawn().unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        if !finished {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        if finished {
            took[which] = started.elapsed();
        }
        let context = format!("seed {seed:#x}, iteration {iteration}, {args:?} killed after {delay:?}");
        world.assert_invariants(&context);
        world.run_to_completion(args);
        world.assert_invariants(&format!("{context}, run again"));
    }
    eprintln!("sigkill: seed {seed:#x}, {killed} of {ITERATIONS} runs killed before they ended");
    assert!(killed >= ITERATIONS / 2, "only {killed} of {ITERATIONS} runs were killed before they ended");
}

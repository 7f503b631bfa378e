//! Shared helpers: repositories with a fast KDF, deterministic file content, and tree
//! comparison that checks content, kind, mode, mtime and symlink targets.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cairn::{
    BackupOptions, BackupOutcome, CancelToken, InitOptions, KdfParams, NoProgress, Password, Repository,
    RestoreOptions,
};
use tempfile::TempDir;

/// The password every test repository uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// Argon2id at its cheapest: tests open repositories hundreds of times.
pub const FAST_KDF: KdfParams = KdfParams { memory_kib: 64, time_cost: 1, lanes: 1 };

/// A repository in a fresh temporary directory.
pub struct TestRepo {
    pub dir: TempDir,
    pub repo: Repository,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        Self::with_options(&InitOptions { kdf: FAST_KDF, ..InitOptions::default() })
    }

    pub fn with_options(options: &InitOptions) -> TestRepo {
        let dir = TempDir::new().unwrap();
        let storage = cairn::storage::open_location(dir.path().to_str().unwrap()).unwrap();
        let repo = Repository::init(storage, &Password::from(PASSWORD), options).unwrap();
        TestRepo { dir, repo }
    }

    /// A repository sharing `source`'s keys (`cairn init --share-keys`).
    pub fn sharing_keys_with(source: &Repository, options: &InitOptions) -> TestRepo {
        let dir = TempDir::new().unwrap();
        let storage = cairn::storage::open_location(dir.path().to_str().unwrap()).unwrap();
        let options = InitOptions { kdf: FAST_KDF, ..options.clone() };
        let repo =
            Repository::init_sharing_keys(storage, &Password::from(PASSWORD), &options, source).unwrap();
        TestRepo { dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Opens the repository again from disk, as a new process would.
    pub fn reopen(&self) -> Repository {
        let storage = cairn::storage::open_location(self.path().to_str().unwrap()).unwrap();
        Repository::open(storage, &cairn::Credentials::Password(Password::from(PASSWORD))).unwrap()
    }

    pub fn backup(&self, sources: &[&Path]) -> BackupOutcome {
        self.backup_with(sources, &BackupOptions::default())
    }

    pub fn backup_with(&self, sources: &[&Path], options: &BackupOptions) -> BackupOutcome {
        let sources: Vec<PathBuf> = sources.iter().map(|p| p.to_path_buf()).collect();
        self.repo.backup(&sources, options, &NoProgress, &CancelToken::new()).unwrap()
    }

    /// Restores `outcome`'s snapshot into a new directory and returns it.
    pub fn restore(&self, outcome: &BackupOutcome) -> TempDir {
        let target = TempDir::new().unwrap();
        let options = RestoreOptions { verify: true, ..RestoreOptions::default() };
        self.repo
            .restore(&outcome.snapshot, target.path(), &options, &NoProgress, &CancelToken::new())
            .unwrap();
        target
    }

    /// Asserts that no spool or temporary file was left in the repository's `tmp/`.
    pub fn assert_no_leftovers(&self) {
        let leftovers: Vec<_> = fs::read_dir(self.path().join("tmp"))
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "left in tmp/: {leftovers:?}");
    }

    /// Bytes of every file under `dir` of the repository.
    pub fn bytes_under(&self, dir: &str) -> u64 {
        dir_size(&self.path().join(dir))
    }
}

pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() { dir_size(&e.path()) } else { meta.len() }
        })
        .sum()
}

/// Deterministic pseudo-random bytes (xorshift): incompressible, reproducible.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a file, creating parent directories.
pub fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Asserts that the tree at `actual` equals the tree at `expected`: same names, kinds,
/// content, permission bits, file mtimes and symlink targets.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let names = |dir: &Path| {
        let mut names: Vec<Vec<u8>> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().as_bytes().to_vec()).collect();
        names.sort();
        names
    };
    let (left, right) = (names(expected), names(actual));
    assert_eq!(
        left.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect::<Vec<_>>(),
        right.iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect::<Vec<_>>(),
        "entries of {} differ",
        actual.display()
    );
    for name in left {
        let name = std::ffi::OsStr::from_bytes(&name);
        let (a, b) = (expected.join(name), actual.join(name));
        let (ma, mb) = (fs::symlink_metadata(&a).unwrap(), fs::symlink_metadata(&b).unwrap());
        assert_eq!(ma.file_type(), mb.file_type(), "kind of {}", b.display());
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&a).unwrap(), fs::read_link(&b).unwrap(), "target of {}", b.display());
            continue;
        }
        assert_eq!(
            ma.permissions().mode() & 0o7777,
            mb.permissions().mode() & 0o7777,
            "mode of {}",
            b.display()
        );
        if ma.is_dir() {
            assert_same_tree(&a, &b);
        } else {
            assert_eq!(
                (ma.mtime(), ma.mtime_nsec()),
                (mb.mtime(), mb.mtime_nsec()),
                "mtime of {}",
                b.display()
            );
            assert_eq!(ma.len(), mb.len(), "size of {}", b.display());
            assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap(), "content of {}", b.display());
        }
    }
}

/// Copies a directory tree (files and directories only), with modes and modification
/// times, so that the copy compares equal to the original with [`assert_same_tree`].
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            let modified = entry.metadata().unwrap().modified().unwrap();
            fs::File::options().write(true).open(&target).unwrap().set_modified(modified).unwrap();
        }
    }
    let modified = fs::metadata(from).unwrap().modified().unwrap();
    fs::File::open(to).unwrap().set_modified(modified).unwrap();
}

/// The one directory a restore of a single source creates inside `target`.
pub fn restored(target: &Path, source: &Path) -> PathBuf {
    target.join(source.file_name().unwrap())
}

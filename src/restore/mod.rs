//! Restore: writes a snapshot's files into a directory. Blobs are read grouped by pack, each
//! authenticated and checked against its keyed id before a byte of it is written; files are
//! written under temporary names and renamed into place once complete, so a final name
//! never holds a partial file.

mod database;
mod in_place;
mod plan;

pub(crate) use database::RebuiltDatabase;
pub use in_place::{Action, PRE_RESTORE_TAG, PlannedChange, RESTORE_OF};
pub(crate) use plan::length_mismatch;

use std::fs::{File, FileTimes, OpenOptions};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_format::envelope::BlobType;
use cairn_format::timestamp::Timestamp;
use cairn_format::tree::NodeMeta;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::glob::PathFilter;
use crate::index::Index;
use crate::progress::{CancelToken, Meter, Phase, Progress, with_ticker};
use crate::repository::Repository;
use crate::snapshot::SnapshotInfo;
use plan::{FilePlan, PackRead, Plan};

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Restore only entries matching these patterns (and what is below matching
    /// directories); everything when empty.
    pub include: Vec<String>,
    /// Read every restored file back and compare it with the snapshot.
    pub verify: bool,
    /// Worker threads; the number of CPUs when `None`.
    pub threads: Option<usize>,
    /// Before replacing anything that exists in the target, take a snapshot of it, tagged
    /// [`PRE_RESTORE_TAG`], so the restore can itself be undone.
    pub safety_snapshot: bool,
    /// Only list what would change ([`RestoreOutcome::changes`]); write nothing.
    pub dry_run: bool,
    /// The newest database schema version (`PRAGMA user_version`) the app understands: a
    /// snapshot holding a newer database is refused with [`Error::SchemaIncompatible`]
    /// before anything is written.
    pub max_schema_version: Option<i32>,
}

/// What a restore wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Regular files written.
    pub files: u64,
    /// Directories created or updated.
    pub dirs: u64,
    /// Symbolic links created.
    pub symlinks: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Files read back and found identical (with `verify`).
    pub verified: u64,
    /// Databases rebuilt and checked.
    pub databases: u64,
    /// The safety snapshot taken before anything was replaced.
    pub safety_snapshot: Option<cairn_format::id::SnapshotId>,
    /// With `dry_run`, what the restore would do to each file and symlink.
    pub changes: Vec<PlannedChange>,
}

impl Repository {
    /// Restores `snapshot` into the directory `target` (created if needed). Existing files
    /// with the same names are replaced, each by an atomic rename of a complete, checked copy
    /// (synced first when it replaces something), so an interrupted restore leaves every file
    /// old or new, never a mix, and running it again finishes it. Databases are rebuilt from
    /// their dumps and checked before they replace anything. See [`RestoreOptions`] for the
    /// safety snapshot, dry runs and schema checks.
    pub fn restore(
        &self,
        snapshot: &SnapshotInfo,
        target: &Path,
        options: &RestoreOptions,
        progress: &dyn Progress,
        cancel: &CancelToken,
    ) -> Result<RestoreOutcome> {
        let include = PathFilter::new(&options.include)?;
        let _lock = crate::lock::LockGuard::shared_if_writable(self, "restore");
        let index = Index::load(self)?;
        let plan = crate::tree::with_walk_stack(|| {
            plan::build(self, &index, &snapshot.snapshot.tree, target, &include)
        })?;
        in_place::check_schemas(&plan, options.max_schema_version)?;
        let databases = plan.files.iter().filter(|f| f.database.is_some()).count() as u64;
        if options.dry_run {
            return Ok(RestoreOutcome {
                files: plan.files.len() as u64,
                dirs: plan.dirs.len() as u64,
                symlinks: plan.links.len() as u64,
                databases,
                changes: in_place::planned_changes(&plan),
                ..RestoreOutcome::default()
            });
        }
        let safety = if options.safety_snapshot {
            self.safety_snapshot(&plan, target, snapshot, progress, cancel)?
        } else {
            None
        };
        let reads = plan::pack_reads(&plan, &index)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads.unwrap_or(0))
            .thread_name(|i| format!("cairn-restore-{i}"))
            .build()
            .map_err(|e| Error::system("starting threads", std::io::Error::other(e)))?;
        let meter = Meter::new(Phase::Restore);
        meter.add_total(plan.files.len() as u64, plan.bytes);
        meter.finish_totals();
        let owner = Owner::of(target)?;
        in_place::write_marker(target, &snapshot.id, safety.as_ref())?;
        let written = with_ticker(&meter, progress, || {
            let result = self.write_all(&plan, &reads, &pool, &meter, owner, cancel);
            if result.is_err() {
                remove_temp_files(&plan);
            }
            result
        })?;
        let mut outcome = RestoreOutcome {
            files: plan.files.len() as u64,
            dirs: plan.dirs.len() as u64,
            symlinks: plan.links.len() as u64,
            bytes: written,
            verified: 0,
            databases,
            safety_snapshot: safety,
            changes: Vec::new(),
        };
        in_place::remove_marker(target);
        if options.verify {
            let meter = Meter::new(Phase::Verify);
            meter.add_total(plan.files.len() as u64, plan.bytes);
            meter.finish_totals();
            outcome.verified = with_ticker(&meter, progress, || verify(self, &plan, &pool, &meter, cancel))?;
        }
        Ok(outcome)
    }

    fn write_all(
        &self,
        plan: &Plan,
        reads: &[PackRead],
        pool: &rayon::ThreadPool,
        meter: &Meter,
        owner: Owner,
        cancel: &CancelToken,
    ) -> Result<u64> {
        for dir in &plan.dirs {
            std::fs::create_dir_all(&dir.path).map_err(|e| target_error(&dir.path, e))?;
        }
        let written = AtomicU64::new(0);
        pool.install(|| -> Result<()> {
            plan.files.par_iter().try_for_each(|file| {
                cancel.check()?;
                create_file(self, file, owner, meter)
            })?;
            reads.par_iter().try_for_each(|read| {
                cancel.check()?;
                self.apply_read(plan, read, owner, meter, &written)
            })
        })?;
        for link in &plan.links {
            create_symlink(link, owner)?;
        }
        for dir in plan.dirs.iter().rev() {
            finish_metadata(&dir.path, &dir.meta, owner).map_err(|e| target_error(&dir.path, e))?;
        }
        Ok(written.into_inner())
    }

    /// Fetches one range of a pack, opens and checks each blob in it and writes it to every
    /// place it belongs, one blob in memory at a time. A damaged blob fails the whole read
    /// after the blobs before it were written; writing them again is harmless (the same bytes
    /// at the same offsets), so the caller may simply run this again.
    fn write_read(&self, plan: &Plan, read: &PackRead) -> Result<()> {
        let bytes = read.fetch(self)?;
        for entry in &read.blobs {
            let blob = &entry.item;
            let raw = self
                .sealer()
                .open_blob(BlobType::Data, &blob.id.0, read.sealed(&bytes, entry)?)
                .map_err(|damage| {
                    Error::corrupt(
                        crate::ObjectKind::DataBlob,
                        format!("{} (in pack {})", blob.id, read.pack.short()),
                        damage,
                    )
                })?;
            if raw.len() != blob.raw_len as usize {
                return Err(Error::corrupt(
                    crate::ObjectKind::DataBlob,
                    blob.id,
                    crate::Damage::Format(plan::length_mismatch()),
                ));
            }
            // Files start as holes of their full length: all-zero chunks need no write,
            // which also restores sparse files sparse.
            if raw.iter().all(|&b| b == 0) {
                continue;
            }
            for target in &blob.targets {
                let file = &plan.files[target.file];
                let handle = OpenOptions::new()
                    .write(true)
                    .open(&file.temp)
                    .map_err(|e| target_error(&file.temp, e))?;
                handle.write_all_at(&raw, target.offset).map_err(|e| target_error(&file.temp, e))?;
            }
        }
        Ok(())
    }

    /// Fetches one range of a pack, opens and checks each blob in it (downloading it again
    /// once if that fails), and writes each to every place it belongs; then counts them and
    /// finishes the files this completes.
    fn apply_read(
        &self,
        plan: &Plan,
        read: &PackRead,
        owner: Owner,
        meter: &Meter,
        written: &AtomicU64,
    ) -> Result<()> {
        crate::repository::reread_once_if_damaged(|| self.write_read(plan, read))?;
        for blob in read.blobs.iter().map(|entry| &entry.item) {
            for target in &blob.targets {
                let file = &plan.files[target.file];
                written.fetch_add(u64::from(blob.raw_len), Ordering::Relaxed);
                meter.add_done(0, u64::from(blob.raw_len));
                if file.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    finish_file(self, file, owner)?;
                    meter.set_current(&file.path);
                    meter.add_done(1, 0);
                }
            }
        }
        Ok(())
    }
}

/// Creates a file's temporary copy at its full length; an empty file is finished at once.
fn create_file(repo: &Repository, file: &FilePlan, owner: Owner, meter: &Meter) -> Result<()> {
    let handle = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&file.temp)
        .map_err(|e| target_error(&file.temp, e))?;
    handle.set_len(file.meta.size).map_err(|e| target_error(&file.temp, e))?;
    drop(handle);
    if file.chunks.is_empty() {
        finish_file(repo, file, owner)?;
        meter.add_done(1, 0);
    }
    Ok(())
}

/// Sets a complete file's owner, times and mode, then renames it into place; a database is
/// first rebuilt from the dump the file holds, and checked. A file that replaces an existing
/// one is synced before the rename, so a crash leaves the old file or the new one.
fn finish_file(repo: &Repository, file: &FilePlan, owner: Owner) -> Result<()> {
    let Some(db) = &file.database else {
        finish_metadata(&file.temp, &file.meta, owner).map_err(|e| target_error(&file.temp, e))?;
        let replacing = std::fs::symlink_metadata(&file.path).is_ok();
        if replacing {
            database::sync_file(&file.temp).map_err(|e| target_error(&file.temp, e))?;
        }
        std::fs::rename(&file.temp, &file.path).map_err(|e| target_error(&file.path, e))?;
        if replacing {
            database::sync_parent(&file.path).map_err(|e| target_error(&file.path, e))?;
        }
        return Ok(());
    };
    database::remove_with_companions(&db.temp);
    let dump = File::open(&file.temp).map_err(|e| target_error(&file.temp, e))?;
    let mut dump = std::io::BufReader::with_capacity(1 << 20, dump);
    database::rebuild_checked(repo, &mut dump, file.meta.size, &file.chunks, &db.temp, &db.label)?;
    crate::crashpoint::hit("restore-db-rebuilt");
    let _ = std::fs::remove_file(&file.temp);
    finish_metadata(&db.temp, &db.meta, owner).map_err(|e| target_error(&db.temp, e))?;
    database::replace_database(&db.temp, &file.path).map_err(|e| target_error(&file.path, e))
}

fn create_symlink(link: &plan::LinkPlan, owner: Owner) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::OsStr::from_bytes(&link.target);
    match std::fs::symlink_metadata(&link.path) {
        Ok(meta) if !meta.is_dir() => {
            std::fs::remove_file(&link.path).map_err(|e| target_error(&link.path, e))?;
        }
        _ => {}
    }
    std::os::unix::fs::symlink(target, &link.path).map_err(|e| target_error(&link.path, e))?;
    if owner.is_root {
        // Ownership is best effort: the link itself is what matters.
        let _ = std::os::unix::fs::lchown(&link.path, Some(link.meta.uid), Some(link.meta.gid));
    }
    Ok(())
}

/// Owner first (chown clears set-id bits), then times, then mode (a read-only mode must not
/// stop the earlier steps).
fn finish_metadata(path: &Path, meta: &NodeMeta, owner: Owner) -> std::io::Result<()> {
    if owner.is_root {
        std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))?;
    }
    let handle = File::open(path)?;
    handle.set_times(FileTimes::new().set_modified(system_time(meta.mtime)))?;
    drop(handle);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode))
}

fn system_time(t: Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(t.nanos));
    match u64::try_from(t.secs) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs) + nanos,
        Err(_) => UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs()) + nanos,
    }
}

/// Whether restored entries get their recorded owners: only when running as root, which is
/// read off a directory this process owns.
#[derive(Clone, Copy)]
struct Owner {
    is_root: bool,
}

impl Owner {
    fn of(target: &Path) -> Result<Owner> {
        std::fs::create_dir_all(target).map_err(|e| target_error(target, e))?;
        let probe = tempfile_probe(target)?;
        Ok(Owner { is_root: probe == 0 })
    }
}

/// The uid this process creates files with, read off a file it creates and removes.
fn tempfile_probe(dir: &Path) -> Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(format!(".cairn-probe-{}", std::process::id()));
    let file = File::create(&path).map_err(|e| target_error(&path, e))?;
    let uid = file.metadata().map_err(|e| target_error(&path, e))?.uid();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(uid)
}

fn remove_temp_files(plan: &Plan) {
    for file in &plan.files {
        if file.remaining.load(Ordering::Acquire) > 0 || file.chunks.is_empty() || file.database.is_some() {
            let _ = std::fs::remove_file(&file.temp);
        }
        if let Some(db) = &file.database {
            database::remove_with_companions(&db.temp);
        }
    }
}

/// Re-reads every restored file and compares each chunk's keyed hash with the snapshot's.
fn verify(
    repo: &Repository,
    plan: &Plan,
    pool: &rayon::ThreadPool,
    meter: &Meter,
    cancel: &CancelToken,
) -> Result<u64> {
    let mismatches: Vec<PathBuf> = pool
        .install(|| {
            plan.files
                .par_iter()
                .map(|file| {
                    cancel.check()?;
                    let same = file_matches(repo, file, meter).map_err(|e| target_error(&file.path, e))?;
                    meter.add_done(1, 0);
                    Ok((!same).then(|| file.path.clone()))
                })
                .collect::<Result<Vec<Option<PathBuf>>>>()
        })?
        .into_iter()
        .flatten()
        .collect();
    match mismatches.first() {
        None => Ok(plan.files.len() as u64),
        Some(first) => Err(Error::VerifyFailed { count: mismatches.len(), first: first.clone() }),
    }
}

fn file_matches(repo: &Repository, file: &FilePlan, meter: &Meter) -> std::io::Result<bool> {
    if file.database.is_some() {
        // A database was checked against its dump before it was put in place.
        meter.add_done(0, file.meta.size);
        return Ok(true);
    }
    let handle = File::open(&file.path)?;
    if handle.metadata()?.len() != file.meta.size {
        return Ok(false);
    }
    let mut offset = 0u64;
    let mut buf = Vec::new();
    for chunk in &file.chunks {
        buf.resize(chunk.raw_len as usize, 0);
        handle.read_exact_at(&mut buf, offset)?;
        if repo.sealer().chunk_id(&buf) != chunk.id {
            return Ok(false);
        }
        offset += u64::from(chunk.raw_len);
        meter.add_done(0, u64::from(chunk.raw_len));
    }
    Ok(true)
}

fn target_error(path: &Path, source: std::io::Error) -> Error {
    Error::TargetUnwritable { path: path.to_path_buf(), source }
}

//! Command-line arguments. Names follow restic where users know them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// cairn: encrypted, deduplicated, incremental backups of app data.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about, max_term_width = 100)]
pub struct Cli {
    /// Repository location: a directory, `s3:https://HOST/BUCKET[/PREFIX]`,
    /// `webdav:https://HOST/PATH` or `gdrive:/FOLDER`.
    #[arg(short = 'r', long = "repo", env = "CAIRN_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Read settings (repository, password command, credentials, limits) from this TOML file.
    #[arg(long, env = "CAIRN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// How to retry transient storage failures: interactive (short waits, the default),
    /// background (30 s doubling to 10 min, for scheduled jobs) or off.
    #[arg(long, env = "CAIRN_RETRIES", global = true)]
    pub retries: Option<String>,
    /// Parallel uploads to the storage (default 2).
    #[arg(long, env = "CAIRN_CONNECTIONS", global = true)]
    pub connections: Option<usize>,
    /// Limit uploads to this many KiB/s (an average over packs).
    #[arg(long, value_name = "KIB", env = "CAIRN_LIMIT_UPLOAD", global = true)]
    pub limit_upload: Option<u64>,
    /// Limit downloads to this many KiB/s.
    #[arg(long, value_name = "KIB", env = "CAIRN_LIMIT_DOWNLOAD", global = true)]
    pub limit_download: Option<u64>,
    /// Storage options, from the environment and the config file (not a flag).
    #[arg(skip)]
    pub storage: cairn::storage::StorageOptions,
    /// Read the password from this file (first line).
    #[arg(long, env = "CAIRN_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use its first output line as the password.
    #[arg(long, env = "CAIRN_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,
    /// Print results as JSON on stdout (JSON lines for backup and restore progress).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors and warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Back up files and directories into a new snapshot.
    Backup(BackupArgs),
    /// List snapshots.
    Snapshots,
    /// List the entries of a snapshot.
    Ls(LsArgs),
    /// Restore a snapshot into a directory.
    Restore(RestoreArgs),
    /// Show what changed between two snapshots.
    Diff(DiffArgs),
    /// Show sizes and counts of a snapshot, or of the repository.
    Stats(StatsArgs),
    /// Write a file of a snapshot to stdout, or a directory as a tar archive.
    Dump(DumpArgs),
    /// Write the tables of a database in a snapshot as CSV or JSON files, one per table.
    Export(ExportArgs),
    /// Print a repository object, decoded, as JSON (for debugging).
    Cat(CatArgs),
    /// Manage key slots: the passwords and recovery codes that open the repository.
    Key(KeyArgs),
    /// Check the repository's consistency, and with --read-data every stored byte.
    Check(CheckArgs),
    /// Repair a damaged repository (never deletes anything unless asked).
    Repair(RepairArgs),
    /// Remove snapshots by retention rules, a preset, the stored policy, or by id; with
    /// --prune, then reclaim the space they alone used.
    Forget(ForgetArgs),
    /// Reclaim the space of data no snapshot needs.
    Prune(PruneArgs),
    /// Show, set or clear the retention policy stored in the repository.
    Policy(PolicyArgs),
    /// Remove lock files of processes that are gone (stale or unreadable ones).
    Unlock(UnlockArgs),
    /// Copy snapshots from another repository into this one (deduplicated; snapshots copied
    /// before are skipped, so it can run again and again).
    Copy(CopyArgs),
}

/// Which snapshots to keep. Without any rule or preset, the policy stored in the repository
/// applies (`cairn policy set`).
#[derive(Args, Debug, Clone, Default)]
pub struct RetentionArgs {
    /// Start from a named policy: space-saver (7 daily, 4 weekly), balanced (14 daily,
    /// 8 weekly, 12 monthly) or comprehensive (30 daily, 26 weekly, 24 monthly, 10 yearly);
    /// each also keeps the last snapshot. Rules given as well override its counts.
    #[arg(long, value_name = "NAME", value_parser = ["space-saver", "balanced", "comprehensive"])]
    pub preset: Option<String>,
    /// Keep the newest N snapshots.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one (UTC).
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days that have one (UTC).
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N weeks (Monday to Sunday, UTC).
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months (UTC).
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the last N years (UTC).
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot within this long of the group's newest, e.g. 7d, 2w, 1y6m, 12h.
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// Keep every snapshot with this tag (repeatable).
    #[arg(long = "keep-tag", value_name = "TAG")]
    pub keep_tags: Vec<String>,
    /// Apply the rules to each group of snapshots sharing these fields separately: any of
    /// host, paths, tags, comma-separated, or "" for one group.
    #[arg(long, value_name = "FIELDS")]
    pub group_by: Option<String>,
}

#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Snapshots to remove by id (or unique prefix), instead of by rules.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub rules: RetentionArgs,
    /// Show what would be removed, remove nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Then run prune.
    #[arg(long)]
    pub prune: bool,
    /// With --prune: repack a pack when more than this share of it is unused.
    #[arg(long, value_name = "PERCENT", default_value = "5%")]
    pub max_unused: String,
    /// Allow removing every snapshot of a group (normally refused: a mistyped rule must not
    /// empty a repository).
    #[arg(long)]
    pub unsafe_allow_remove_all: bool,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Repack a pack when more than this share of it is unused.
    #[arg(long, value_name = "PERCENT", default_value = "5%")]
    pub max_unused: String,
    /// Show what would be removed, change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Allow pruning a repository with no snapshot (which removes all its data).
    #[arg(long)]
    pub unsafe_allow_remove_all: bool,
}

#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Print the stored policy.
    Show,
    /// Store a policy: `cairn forget` without rules applies it.
    Set(RetentionArgs),
    /// Remove the stored policy.
    Clear,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove every lock, live ones too. Only when no other cairn process can be running:
    /// a prune may then delete data a running backup uses.
    #[arg(long)]
    pub remove_all: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Read every pack and verify every blob (decrypt, decompress, re-hash).
    #[arg(long)]
    pub read_data: bool,
    /// Read part of the packs: N/M (parts 1/M .. M/M together cover all) or P% (random).
    #[arg(long, value_name = "N/M|P%", conflicts_with = "read_data")]
    pub read_data_subset: Option<String>,
}

#[derive(Args, Debug)]
pub struct RepairArgs {
    #[command(subcommand)]
    pub command: RepairCommand,
}

#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild the index from the pack headers; the old index files are kept, superseded.
    Index,
    /// Write new snapshots without the files whose data is lost; keeps the originals.
    Snapshots {
        /// Delete each original once its repaired copy is stored.
        #[arg(long)]
        forget: bool,
        /// Also read every data blob and treat those that fail to open as lost (slow).
        #[arg(long)]
        read_data: bool,
    },
}

/// Argon2id settings of a new password slot.
#[derive(Args, Debug, Clone)]
pub struct KdfArgs {
    /// Argon2id memory in KiB (default 65536 = 64 MiB).
    #[arg(long = "kdf-memory-kib", value_name = "KIB")]
    pub memory_kib: Option<u32>,
    /// Argon2id passes (default 3).
    #[arg(long = "kdf-time", value_name = "N")]
    pub time_cost: Option<u32>,
    /// Argon2id lanes (default 4).
    #[arg(long = "kdf-lanes", value_name = "N")]
    pub lanes: Option<u32>,
}

impl KdfArgs {
    /// The parameters, defaults filled in.
    pub fn params(&self) -> cairn::KdfParams {
        let defaults = cairn::DEFAULT_KDF;
        cairn::KdfParams {
            memory_kib: self.memory_kib.unwrap_or(defaults.memory_kib),
            time_cost: self.time_cost.unwrap_or(defaults.time_cost),
            lanes: self.lanes.unwrap_or(defaults.lanes),
        }
    }
}

/// Key-derivation and storage settings of a new repository.
#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// zstd level 1-22, or 0 for no compression (default 3).
    #[arg(long, value_name = "LEVEL")]
    pub compression: Option<u8>,
    /// Also create a recovery code, printed once: it opens the repository if the password
    /// is lost.
    #[arg(long)]
    pub recovery_key: bool,
    /// Share the master key and chunk sizes of the --from-repo repository, so that `cairn
    /// copy` between the two moves data as it is, without cutting it again. Whoever can
    /// open either repository can read both: use it for two copies of the same data.
    #[arg(long)]
    pub share_keys: bool,
    #[command(flatten)]
    pub source: SourceRepoArgs,
}

/// The other repository of `cairn copy` and `cairn init --share-keys`; the flags' names
/// follow restic's (`--from-repo`, `--from-password-file`).
#[derive(Args, Debug, Clone)]
#[allow(clippy::struct_field_names)]
pub struct SourceRepoArgs {
    /// The other repository (any location `-r` takes).
    #[arg(long, env = "CAIRN_FROM_REPOSITORY")]
    pub from_repo: Option<String>,
    /// Read the other repository's password from this file (else `CAIRN_FROM_PASSWORD`).
    #[arg(long, env = "CAIRN_FROM_PASSWORD_FILE")]
    pub from_password_file: Option<PathBuf>,
    /// Run this command for the other repository's password.
    #[arg(long, env = "CAIRN_FROM_PASSWORD_COMMAND")]
    pub from_password_command: Option<String>,
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List the key slots.
    List,
    /// Add a password, or with --recovery-key a recovery code.
    Add(KeyAddArgs),
    /// Remove a key slot (not the one in use, not the last).
    Remove {
        /// Id (prefix) of the slot, as `cairn key list` shows it.
        id: String,
    },
    /// Change the password that opened the repository.
    Passwd(NewPasswordArgs),
}

#[derive(Args, Debug)]
pub struct KeyAddArgs {
    /// Create a recovery code instead of a password; it is printed once.
    #[arg(long, conflicts_with = "new_password_file")]
    pub recovery_key: bool,
    #[command(flatten)]
    pub new_password: NewPasswordArgs,
}

#[derive(Args, Debug)]
pub struct NewPasswordArgs {
    /// Read the new password from this file (first line) instead of asking twice.
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub kdf: KdfArgs,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Tag the snapshot (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Host name to record instead of this machine's.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Skip paths matching GLOB: `*.tmp` matches names anywhere, `/abs/path/**` whole paths
    /// (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Compare against this snapshot instead of the latest one of the same host and paths.
    #[arg(long, value_name = "SNAP", conflicts_with = "force")]
    pub parent: Option<String>,
    /// Read every file, ignoring the parent snapshot.
    #[arg(long)]
    pub force: bool,
    /// Create the repository first if it does not exist.
    #[arg(long)]
    pub init: bool,
    /// Store KEY=VALUE metadata in the snapshot (repeatable).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// SQLite databases: `auto` reads each (found by its header) through SQLite at one
    /// consistent point and stores its dump, so daily backups store about the changed rows;
    /// `file` stores a consistent page image instead; `off` copies database files as bytes.
    #[arg(long, value_name = "MODE", default_value = "auto", env = "CAIRN_SQLITE_MODE")]
    pub sqlite_mode: cairn::sqlite::SqliteMode,
    /// Read this file as a SQLite database whatever --sqlite-mode finds (repeatable).
    #[arg(long = "sqlite", value_name = "PATH")]
    pub sqlite_paths: Vec<PathBuf>,
    #[command(flatten)]
    pub init_args: InitArgs,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot id (prefix) or `latest`.
    pub snapshot: String,
    /// Path inside the snapshot (default: everything).
    pub path: Option<String>,
    /// With PATH, list everything below it, not just its direct entries.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Show type, mode, size and modification time.
    #[arg(short, long)]
    pub long: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot id (prefix) or `latest`.
    pub snapshot: String,
    /// Directory to restore into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub target: PathBuf,
    /// Restore only entries matching GLOB (repeatable); `/app/media/**` matches from the
    /// snapshot's root, `*.jpg` names anywhere.
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Read every restored file back and compare it with the snapshot.
    #[arg(long)]
    pub verify: bool,
    /// List what would be created or replaced; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace existing files without first taking a `pre-restore` snapshot of them.
    #[arg(long)]
    pub no_safety_snapshot: bool,
    /// Refuse (exit 13) if a database in the snapshot has a schema version (`PRAGMA
    /// user_version`) above N.
    #[arg(long, value_name = "N")]
    pub max_schema_version: Option<i32>,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot.
    pub from: String,
    /// The newer snapshot.
    pub to: String,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// A snapshot; without it, the whole repository.
    pub snapshot: Option<String>,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Snapshot id (prefix) or `latest`.
    pub snapshot: String,
    /// Path of a file or directory inside the snapshot (`/` for everything).
    pub path: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Snapshot id (prefix) or `latest`.
    pub snapshot: String,
    /// Path of the database inside the snapshot, e.g. `/app-data/app.db`.
    #[arg(long, value_name = "PATH")]
    pub db: String,
    /// File format: `csv` (RFC 4180, UTF-8, CRLF) or `json` (types kept, blobs in base64).
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "json"], default_value = "csv")]
    pub format: String,
    /// Directory to write into (created if missing); existing files are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only these tables (or views), comma-separated; default: every ordinary table.
    #[arg(long, value_name = "T,...", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// CSV field separator, e.g. ';' where spreadsheets use a decimal comma.
    #[arg(long, value_name = "CHAR", default_value = ",")]
    pub delimiter: char,
    /// Start CSV files with a UTF-8 byte order mark (for older spreadsheet programs).
    #[arg(long)]
    pub bom: bool,
    /// Write text starting with = + - @ exactly, without the ' that keeps spreadsheet
    /// programs from running it as a formula.
    #[arg(long)]
    pub no_formula_guard: bool,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// What to print: config, key, snapshot, index or pack.
    #[arg(value_parser = ["config", "key", "snapshot", "index", "pack"])]
    pub object: String,
    /// Id (prefix) of the object; `latest` works for snapshots.
    pub id: Option<String>,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Snapshots to copy (ids, id prefixes or `latest`); every snapshot when none is given.
    pub snapshots: Vec<String>,
    /// The repository to copy from, given by --from-repo, and its password.
    #[command(flatten)]
    pub source: SourceRepoArgs,
    /// The repository to copy to; `-r/--repo` when not given.
    #[arg(long)]
    pub to_repo: Option<String>,
}

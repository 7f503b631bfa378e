//! The `cairn` command line: a thin layer over the library. It parses arguments, opens the
//! repository, calls one library operation and prints its result.

pub mod args;
mod backup;
mod cat;
mod check;
mod config_file;
mod copy;
mod diff;
mod dump;
pub mod exit;
mod export;
mod forget;
mod init;
mod key;
mod ls;
mod output;
mod password;
mod policy;
mod progress;
mod prune;
mod repair;
mod restore;
mod snapshots;
mod stats;
mod unlock;

use std::sync::Arc;

use cairn::{CancelToken, Credentials, Repository};

use args::{Cli, Command};

/// Why the command failed: a library error, or a problem with how cairn was called.
#[derive(Debug)]
pub enum CliError {
    /// From the library.
    Library(cairn::Error),
    /// Bad usage: a missing option, an unreadable password file.
    Usage(String),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Library(e) => exit::code(e),
            CliError::Usage(_) => exit::FATAL,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Library(e) => write!(f, "{e}"),
            CliError::Usage(message) => f.write_str(message),
        }
    }
}

impl From<cairn::Error> for CliError {
    fn from(e: cairn::Error) -> Self {
        CliError::Library(e)
    }
}

impl From<cairn::storage::StorageError> for CliError {
    fn from(e: cairn::storage::StorageError) -> Self {
        CliError::Library(e.into())
    }
}

/// Runs the parsed command; returns the exit code on success (3 when a backup skipped files).
pub fn run(cli: &Cli, cancel: &CancelToken) -> Result<u8, CliError> {
    match &cli.command {
        Command::Init(args) => init::run(cli, args),
        Command::Backup(args) => backup::run(cli, args, cancel),
        Command::Snapshots => snapshots::run(cli),
        Command::Ls(args) => ls::run(cli, args),
        Command::Restore(args) => restore::run(cli, args, cancel),
        Command::Diff(args) => diff::run(cli, args),
        Command::Stats(args) => stats::run(cli, args),
        Command::Dump(args) => dump::run(cli, args),
        Command::Export(args) => export::run(cli, args, cancel),
        Command::Cat(args) => cat::run(cli, args),
        Command::Key(args) => key::run(cli, args),
        Command::Check(args) => check::run(cli, args, cancel),
        Command::Repair(args) => repair::run(cli, args, cancel),
        Command::Forget(args) => forget::run(cli, args, cancel),
        Command::Prune(args) => prune::run(cli, args, cancel),
        Command::Policy(args) => policy::run(cli, args),
        Command::Unlock(args) => unlock::run(cli, args),
        Command::Copy(args) => copy::run(cli, args, cancel),
    }
}

/// The repository location from `-r` or `CAIRN_REPOSITORY`.
fn location(cli: &Cli) -> Result<&str, CliError> {
    cli.repo
        .as_deref()
        .ok_or_else(|| CliError::usage("no repository given; use -r/--repo or set CAIRN_REPOSITORY"))
}

/// Reads the config file and the environment's storage settings into `cli`, and arranges
/// for retries to be shown on stderr.
pub fn configure(cli: &mut Cli) -> Result<(), CliError> {
    let mut options = config_file::apply(cli)?;
    if !cli.quiet {
        options.on_retry = Some(progress::retry_observer());
    }
    cli.storage = options;
    Ok(())
}

fn storage(cli: &Cli) -> Result<Arc<dyn cairn::storage::Storage>, CliError> {
    Ok(cairn::storage::open(location(cli)?, &cli.storage)?)
}

/// Opens the repository with the password from wherever the user gave it.
fn open(cli: &Cli) -> Result<Repository, CliError> {
    open_at(cli, location(cli)?, password::for_open(cli)?)
}

/// Opens the repository at `location` with `password`, with the storage options of `cli`.
/// Opens the other repository of `cairn copy` or `cairn init --share-keys`; `purpose` says
/// which option needs it, for the error when it is not given.
fn open_source(cli: &Cli, source: &args::SourceRepoArgs, purpose: &str) -> Result<Repository, CliError> {
    let location = source
        .from_repo
        .as_deref()
        .ok_or_else(|| CliError::usage(format!("{purpose} needs --from-repo (or CAIRN_FROM_REPOSITORY)")))?;
    open_at(cli, location, password::for_source(source)?)
}

fn open_at(cli: &Cli, location: &str, password: cairn::Password) -> Result<Repository, CliError> {
    let storage = cairn::storage::open(location, &cli.storage)?;
    let mut repo = Repository::open(storage, &Credentials::Password(password))?;
    repo.set_warning_sink(std::sync::Arc::new(|message: &str| eprintln!("warning: {message}")));
    Ok(repo)
}

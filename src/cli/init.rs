//! `cairn init`.

use cairn::{InitOptions, Repository};
use serde_json::json;

use super::args::{Cli, InitArgs};
use super::{CliError, exit, open_source, output, password, storage};

pub fn run(cli: &Cli, args: &InitArgs) -> Result<u8, CliError> {
    let repo = create(cli, args)?;
    if cli.json {
        output::json(&json!({
            "message_type": "initialized",
            "id": repo.config().repo_id.to_hex(),
            "repository": repo.location(),
        }));
    } else if !cli.quiet {
        println!("created cairn repository {} at {}", repo.config().repo_id.short(), repo.location());
        println!("Keep the password safe: without it the data cannot be read, by anyone.");
    }
    if args.recovery_key {
        let (_, code) = repo.add_recovery_code()?;
        super::key::show_recovery_code(cli, &code);
    }
    Ok(exit::OK)
}

/// Creates the repository; shared with `backup --init`.
pub fn create(cli: &Cli, args: &InitArgs) -> Result<Repository, CliError> {
    let source = if args.share_keys { Some(open_source(cli, &args.source, "--share-keys")?) } else { None };
    let storage = storage(cli)?;
    let password = password::for_init(cli)?;
    Ok(match &source {
        Some(source) => Repository::init_sharing_keys(storage, &password, &options(args), source)?,
        None => Repository::init(storage, &password, &options(args))?,
    })
}

fn options(args: &InitArgs) -> InitOptions {
    let defaults = InitOptions::default();
    InitOptions {
        kdf: args.kdf.params(),
        compression_level: args.compression.unwrap_or(defaults.compression_level),
        ..defaults
    }
}

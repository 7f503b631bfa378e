//! The config file (`--config FILE` or `CAIRN_CONFIG`): everything a scheduled job needs,
//! so that its command line is just `cairn --config job.toml forget --prune`.
//!
//! ```toml
//! repository = "s3:https://s3.eu-west-1.amazonaws.com/my-bucket/phone"
//! password-command = "secret-tool lookup cairn phone"   # or password-file = "…"
//! retries = "background"        # or "interactive" (the default), "off"
//! connections = 4
//! limit-upload = 2048           # KiB/s
//! limit-download = 8192         # KiB/s
//!
//! [s3]
//! access-key-id = "…"
//! secret-access-key = "…"
//! region = "eu-west-1"
//! path-style = false
//!
//! [webdav]
//! username = "…"
//! password = "…"
//!
//! [gdrive]
//! refresh-token = "…"
//! client-id = "…"
//! client-secret = "…"
//! ```
//!
//! A value given on the command line or in the environment wins over the file. Unknown keys
//! are errors, so a typo never silently drops a setting.

use std::path::{Path, PathBuf};

use cairn::storage::{Secret, StorageOptions};
use serde::Deserialize;

use super::CliError;
use super::args::Cli;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    repository: Option<String>,
    password_file: Option<PathBuf>,
    password_command: Option<String>,
    retries: Option<String>,
    connections: Option<usize>,
    limit_upload: Option<u64>,
    limit_download: Option<u64>,
    #[serde(default)]
    s3: S3Section,
    #[serde(default)]
    webdav: WebdavSection,
    #[serde(default)]
    gdrive: GdriveSection,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct S3Section {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
    path_style: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct WebdavSection {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GdriveSection {
    access_token: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Fills what the command line and environment left unset from the config file, if one is
/// given; returns the storage options (environment first, then the file, then the flags).
pub fn apply(cli: &mut Cli) -> Result<StorageOptions, CliError> {
    let file = match &cli.config {
        Some(path) => read(path)?,
        None => ConfigFile::default(),
    };
    fill(&mut cli.repo, file.repository);
    fill(&mut cli.password_file, file.password_file);
    fill(&mut cli.password_command, file.password_command);
    fill(&mut cli.retries, file.retries);
    fill(&mut cli.connections, file.connections);
    fill(&mut cli.limit_upload, file.limit_upload);
    fill(&mut cli.limit_download, file.limit_download);

    let mut options = StorageOptions::from_env().map_err(CliError::usage)?;
    let secret = |value: Option<String>| value.map(Secret::new);
    fill(&mut options.s3.access_key_id, secret(file.s3.access_key_id));
    fill(&mut options.s3.secret_access_key, secret(file.s3.secret_access_key));
    fill(&mut options.s3.session_token, secret(file.s3.session_token));
    fill(&mut options.s3.region, file.s3.region);
    fill(&mut options.s3.path_style, file.s3.path_style);
    fill(&mut options.webdav.username, file.webdav.username);
    fill(&mut options.webdav.password, secret(file.webdav.password));
    fill(&mut options.gdrive.access_token, secret(file.gdrive.access_token));
    fill(&mut options.gdrive.refresh_token, secret(file.gdrive.refresh_token));
    fill(&mut options.gdrive.client_id, file.gdrive.client_id);
    fill(&mut options.gdrive.client_secret, secret(file.gdrive.client_secret));

    options.connections = cli.connections;
    options.limit_upload = cli.limit_upload.map(|kib| kib.saturating_mul(1024));
    options.limit_download = cli.limit_download.map(|kib| kib.saturating_mul(1024));
    options.retry = match cli.retries.as_deref() {
        None | Some("interactive") => cairn::storage::RetryPolicy::interactive(),
        Some("background") => cairn::storage::RetryPolicy::background(),
        Some("off") => cairn::storage::RetryPolicy::none(),
        Some(other) => {
            return Err(CliError::usage(format!("retries = {other:?}: use interactive, background or off")));
        }
    };
    Ok(options)
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn read(path: &Path) -> Result<ConfigFile, CliError> {
    // The text holds the file's secrets: wiped once parsed. The parsed values move into
    // `Secret`s, which wipe themselves.
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read config file {}: {e}", path.display())))?,
    );
    toml::from_str(&text).map_err(|e| {
        let first = e.message().lines().next().unwrap_or_default().to_string();
        let at = e.span().map(|span| text[..span.start].matches('\n').count() + 1);
        let line = at.map(|l| format!(" (line {l})")).unwrap_or_default();
        CliError::usage(format!("config file {}{line}: {first}", path.display()))
    })
}

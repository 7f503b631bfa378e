//! Where the password comes from: `--password-file`, `--password-command`, `CAIRN_PASSWORD`,
//! or a prompt when stdin is a terminal, in that order.

use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;

use cairn::Password;

use super::CliError;
use super::args::{Cli, SourceRepoArgs};

/// The password for an existing repository.
pub fn for_open(cli: &Cli) -> Result<Password, CliError> {
    resolve(cli, false)
}

/// The password for a new repository: a prompt asks twice.
pub fn for_init(cli: &Cli) -> Result<Password, CliError> {
    resolve(cli, true)
}

/// A new password for `key add` / `key passwd`: from `--new-password-file`, or asked twice on
/// a terminal.
pub fn new_password(file: Option<&Path>) -> Result<Password, CliError> {
    if let Some(path) = file {
        return from_file(path);
    }
    if std::io::stdin().is_terminal() {
        return prompt_with("enter new password: ", true);
    }
    Err(CliError::usage("no new password given; use --new-password-file or run in a terminal"))
}

/// The password of the other repository of `cairn copy` or `cairn init --share-keys`: from
/// its file, its command, `CAIRN_FROM_PASSWORD`, or a prompt on a terminal.
pub fn for_source(source: &SourceRepoArgs) -> Result<Password, CliError> {
    if let Some(path) = &source.from_password_file {
        return from_file(path);
    }
    if let Some(command) = &source.from_password_command {
        return from_command(command);
    }
    if let Ok(text) = std::env::var("CAIRN_FROM_PASSWORD") {
        return Ok(Password::from(text));
    }
    if std::io::stdin().is_terminal() {
        return prompt_with("enter password for the source repository: ", false);
    }
    Err(CliError::usage(
        "no password for the source repository; set CAIRN_FROM_PASSWORD or use --from-password-file",
    ))
}

fn resolve(cli: &Cli, confirm: bool) -> Result<Password, CliError> {
    if let Some(path) = &cli.password_file {
        return from_file(path);
    }
    if let Some(command) = &cli.password_command {
        return from_command(command);
    }
    if let Ok(text) = std::env::var("CAIRN_PASSWORD") {
        return Ok(Password::from(text));
    }
    if std::io::stdin().is_terminal() {
        return prompt(confirm);
    }
    Err(CliError::usage(
        "no password given; set CAIRN_PASSWORD, use --password-file or --password-command, or run in a terminal",
    ))
}

fn from_file(path: &Path) -> Result<Password, CliError> {
    let text = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read password file {}: {e}", path.display())))?;
    Ok(Password::new(first_line(text)))
}

fn from_command(command: &str) -> Result<Password, CliError> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| CliError::usage(format!("cannot run password command: {e}")))?;
    if !output.status.success() {
        return Err(CliError::usage(format!("password command failed ({})", output.status)));
    }
    Ok(Password::new(first_line(output.stdout)))
}

/// The bytes before the first newline; the rest is wiped.
fn first_line(mut bytes: Vec<u8>) -> Vec<u8> {
    let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
    let end = if end > 0 && bytes.get(end - 1) == Some(&b'\r') { end - 1 } else { end };
    let line = bytes[..end].to_vec();
    zeroize::Zeroize::zeroize(&mut bytes);
    line
}

fn prompt(confirm: bool) -> Result<Password, CliError> {
    prompt_with("enter password for repository: ", confirm)
}

fn prompt_with(label: &str, confirm: bool) -> Result<Password, CliError> {
    let ask = |label: &str| {
        rpassword::prompt_password(label).map_err(|e| CliError::usage(format!("cannot read password: {e}")))
    };
    let first = zeroize::Zeroizing::new(ask(label)?);
    if confirm {
        let second = zeroize::Zeroizing::new(ask("enter password again: ")?);
        if *first != *second {
            return Err(CliError::usage("passwords do not match"));
        }
    }
    Ok(Password::from(first.as_str()))
}

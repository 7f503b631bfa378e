//! `cairn key`: list, add, remove and change the secrets that open a repository.

use cairn::RecoveryCode;
use cairn::format::key::SlotKdf;
use serde_json::{Value, json};

use super::args::{Cli, KeyAddArgs, KeyArgs, KeyCommand, NewPasswordArgs};
use super::{CliError, exit, open, output, password};

pub fn run(cli: &Cli, args: &KeyArgs) -> Result<u8, CliError> {
    let mut repo = open(cli)?;
    match &args.command {
        KeyCommand::List => list(cli, &repo)?,
        KeyCommand::Add(add) => add_slot(cli, &repo, add)?,
        KeyCommand::Remove { id } => {
            let id = repo.resolve_key_id(id)?;
            repo.remove_key(&id)?;
            report(cli, "key_removed", "removed key slot", &id.to_string());
        }
        KeyCommand::Passwd(new) => {
            let password = password::new_password(new.new_password_file.as_deref())?;
            let id = repo.change_password(&password, new.kdf.params())?;
            report(cli, "password_changed", "password changed; its key slot is now", &id.to_string());
        }
    }
    Ok(exit::OK)
}

fn list(cli: &Cli, repo: &cairn::Repository) -> Result<(), CliError> {
    let slots = repo.key_slots()?;
    if cli.json {
        let list: Vec<Value> = slots
            .iter()
            .map(|info| match &info.slot {
                Ok(slot) => json!({
                    "id": info.id.to_string(),
                    "current": info.current,
                    "kind": kind(slot.kdf),
                    "kdf": serde_json::to_value(slot.kdf).unwrap_or(Value::Null),
                    "created": output::time(cairn::format::timestamp::Timestamp { secs: slot.created_unix_s, nanos: 0 }),
                    "hostname": slot.hostname,
                    "username": slot.username,
                }),
                Err(e) => json!({ "id": info.id.to_string(), "current": false, "error": e.to_string() }),
            })
            .collect();
        output::json(&Value::Array(list));
        return Ok(());
    }
    println!(" {:<8}  {:<13}  {:<20}  {:<16}  user", "id", "kind", "created", "host");
    for info in &slots {
        let mark = if info.current { "*" } else { " " };
        match &info.slot {
            Ok(slot) => println!(
                "{mark}{:<8}  {:<13}  {:<20}  {:<16}  {}",
                info.id.short(),
                kind(slot.kdf),
                output::time(cairn::format::timestamp::Timestamp { secs: slot.created_unix_s, nanos: 0 }),
                slot.hostname,
                slot.username
            ),
            Err(e) => println!("{mark}{:<8}  damaged: {e}", info.id.short()),
        }
    }
    Ok(())
}

fn add_slot(cli: &Cli, repo: &cairn::Repository, args: &KeyAddArgs) -> Result<(), CliError> {
    if args.recovery_key {
        let (_, code) = repo.add_recovery_code()?;
        show_recovery_code(cli, &code);
        return Ok(());
    }
    let NewPasswordArgs { new_password_file, kdf } = &args.new_password;
    let password = password::new_password(new_password_file.as_deref())?;
    let id = repo.add_password(&password, kdf.params())?;
    report(cli, "key_added", "added key slot", &id.to_string());
    Ok(())
}

/// Shows a new recovery code, the one time it is shown: a JSON line with `--json`.
pub fn show_recovery_code(cli: &Cli, code: &RecoveryCode) {
    if cli.json {
        output::json(&json!({ "message_type": "recovery_code", "recovery_code": code.reveal().as_str() }));
    } else {
        print_recovery_code(code);
    }
}

fn print_recovery_code(code: &RecoveryCode) {
    println!("Recovery code (shown only now; write it down and keep it offline):");
    println!();
    println!("    {}", code.reveal().as_str());
    println!();
    println!("It opens the repository wherever a password is asked for.");
}

fn kind(kdf: SlotKdf) -> &'static str {
    match kdf {
        SlotKdf::Argon2id(_) => "password",
        SlotKdf::RecoveryCode => "recovery code",
    }
}

fn report(cli: &Cli, message_type: &str, text: &str, id: &str) {
    if cli.json {
        output::json(&json!({ "message_type": message_type, "id": id }));
    } else if !cli.quiet {
        println!("{text} {}", &id[..8.min(id.len())]);
    }
}

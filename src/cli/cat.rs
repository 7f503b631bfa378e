//! `cairn cat`: one repository object, decoded, as pretty JSON. Secrets (salts, wrapped keys)
//! are never printed.

use serde_json::{Value, json};

use super::args::{CatArgs, Cli};
use super::{CliError, exit, open, snapshots};

pub fn run(cli: &Cli, args: &CatArgs) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let id = || {
        args.id.as_deref().ok_or_else(|| CliError::usage(format!("`cairn cat {}` needs an id", args.object)))
    };
    let value: Value = match args.object.as_str() {
        "config" => to_value(repo.config()),
        "key" => {
            let (id, slot) = repo.key_slot(id()?)?;
            json!({ "id": id.to_string(), "slot": to_value(&slot) })
        }
        "snapshot" => snapshots::to_json(&repo.find_snapshot(id()?)?),
        "index" => {
            let (id, file) = repo.index_file(id()?)?;
            json!({ "id": id.to_string(), "index": to_value(&file) })
        }
        "pack" => {
            let (id, header) = repo.pack_header(id()?)?;
            json!({ "id": id.to_string(), "header": to_value(&header) })
        }
        other => return Err(CliError::usage(format!("cannot cat {other:?}"))),
    };
    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    Ok(exit::OK)
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

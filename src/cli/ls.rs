//! `cairn ls`.

use std::io::Write;

use cairn::format::tree::NodeKind;
use serde_json::json;

use super::args::{Cli, LsArgs};
use super::{CliError, exit, open, output};

pub fn run(cli: &Cli, args: &LsArgs) -> Result<u8, CliError> {
    let repo = open(cli)?;
    let snapshot = repo.find_snapshot(&args.snapshot)?;
    let path = args.path.as_deref().unwrap_or("/");
    let recursive = args.recursive || args.path.is_none();
    let mut out = std::io::stdout().lock();
    let mut first = true;
    if cli.json {
        let _ = write!(out, "[");
    }
    let result = repo.ls(&snapshot, path, recursive, &mut |entry| {
        let node = &entry.node;
        let (kind, target) = match &node.kind {
            NodeKind::File { .. } => ("file", None),
            NodeKind::Database { .. } => ("database", None),
            NodeKind::Dir { .. } => ("dir", None),
            NodeKind::Symlink { target } => ("symlink", Some(output::path(target))),
        };
        // Writes to a closed stdout are ignored: `cairn ls | head` is fine.
        let _ = if cli.json {
            let value = json!({
                "path": output::path(&entry.path),
                "type": kind,
                "mode": node.meta.mode,
                "uid": node.meta.uid,
                "gid": node.meta.gid,
                "size": node.meta.size,
                "mtime": output::time_precise(node.meta.mtime),
                "target": target,
            });
            let separator = if std::mem::take(&mut first) { "" } else { "," };
            write!(out, "{separator}{value}")
        } else if args.long {
            let letter = &kind[..1];
            let letter = if letter == "f" { "-" } else { letter };
            writeln!(
                out,
                "{letter}{} {:>6} {:>6} {:>12} {} {}{}",
                output::mode(node.meta.mode),
                node.meta.uid,
                node.meta.gid,
                node.meta.size,
                output::time(node.meta.mtime),
                output::path(&entry.path),
                target.map(|t| format!(" -> {t}")).unwrap_or_default()
            )
        } else {
            // The name's bytes as stored, like `ls` prints them, so names that are not
            // UTF-8 come out exactly.
            out.write_all(&entry.path).and_then(|()| out.write_all(b"\n"))
        };
        Ok(())
    });
    if cli.json {
        let _ = writeln!(out, "]");
    }
    result?;
    Ok(exit::OK)
}

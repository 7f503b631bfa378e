//! Where each kind of file lives in a repository (SPEC §3.3).

use cairn_format::header::FileKind;
use cairn_format::id::ObjectId;

use crate::storage::{Storage, StorageError};

/// Path of the config file.
pub(crate) const CONFIG_PATH: &str = "config";

/// The directory holding files of `kind`.
pub(crate) fn dir(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Config => "",
        FileKind::Key => "keys",
        FileKind::Pack => "data",
        FileKind::Index => "index",
        FileKind::Snapshot => "snapshots",
        FileKind::Lock => "locks",
        FileKind::Policy => "policy",
    }
}

/// The path of the file of `kind` named `id`. Packs are spread over 256 subdirectories by
/// their first id byte, so no directory grows huge.
pub(crate) fn file_path(kind: FileKind, id: &ObjectId) -> String {
    let hex = id.to_hex();
    match kind {
        FileKind::Pack => format!("data/{}/{hex}", &hex[..2]),
        FileKind::Config => CONFIG_PATH.to_string(),
        _ => format!("{}/{hex}", dir(kind)),
    }
}

/// Ids of every file of `kind`, with their lengths, sorted by id, each once (a listing that
/// names a file twice, as paging bugs do, changes nothing). Names that are not ids
/// (temporary files of other tools, say) are ignored.
pub(crate) fn list_with_len(
    storage: &dyn Storage,
    kind: FileKind,
) -> Result<Vec<(ObjectId, u64)>, StorageError> {
    let mut out: Vec<(ObjectId, u64)> = storage
        .list(dir(kind))?
        .into_iter()
        .filter_map(|meta| {
            let name = meta.path.rsplit('/').next()?;
            let id = ObjectId::from_hex(name)?;
            (file_path(kind, &id) == meta.path).then_some((id, meta.len))
        })
        .collect();
    out.sort_unstable();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// Ids of every file of `kind`, sorted.
pub(crate) fn list_ids(storage: &dyn Storage, kind: FileKind) -> Result<Vec<ObjectId>, StorageError> {
    Ok(list_with_len(storage, kind)?.into_iter().map(|(id, _)| id).collect())
}

//! Packs (SPEC §7): building and sealing them for upload, and reading blobs and headers back.

mod builder;
mod reader;
mod store;

pub(crate) use builder::{PackBuilder, SealedPack};
pub(crate) use reader::{
    PackRead, pack_read_error, ranged_reads, read_blob, read_blob_payload, read_pack_header,
    read_pack_header_body,
};
pub(crate) use store::BlobStore;

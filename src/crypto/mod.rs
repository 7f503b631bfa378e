//! Keys, key derivation, authenticated encryption and keyed ids (SPEC §4–§5). The only module
//! that touches `blake3`, `argon2` and `chacha20poly1305`.

mod aead;
mod kdf;
mod keys;

pub(crate) use aead::Cipher;
pub use kdf::KdfParams;
pub(crate) use kdf::derive_kek;
pub use keys::{MasterKey, Password};
pub(crate) use keys::{SubKey, SubKeys};

use cairn_format::id::ObjectId;

/// BLAKE3 of a file's bytes: the name of packs, index, snapshot and key files (SPEC §3.3).
pub(crate) fn content_hash(bytes: &[u8]) -> ObjectId {
    ObjectId(*blake3::hash(bytes).as_bytes())
}

/// Fills `out` from the operating system's random number generator.
pub(crate) fn random_bytes(out: &mut [u8]) -> std::io::Result<()> {
    getrandom::fill(out).map_err(|e| std::io::Error::other(format!("random number generator failed: {e}")))
}

/// Decodes the hex of a known-answer vector; test code only.
#[cfg(test)]
fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("test vector hex"))
        .collect()
}

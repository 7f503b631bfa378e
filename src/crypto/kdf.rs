//! Argon2id: turns a password and a slot's salt into the key that wraps the master key
//! (SPEC §4.2).

use argon2::{Algorithm, Argon2, Params, Version};

use super::keys::{Password, SubKey};

pub use cairn_format::key::KdfParams;

/// Derives a key-encryption key. `params` must already have passed
/// [`KdfParams::validate`] (the decoder does it), so the memory it asks for is bounded.
pub(crate) fn derive_kek(password: &Password, salt: &[u8], params: KdfParams) -> std::io::Result<SubKey> {
    let argon_params = Params::new(params.memory_kib, params.time_cost, params.lanes, Some(32))
        .map_err(|e| std::io::Error::other(format!("argon2 parameters rejected: {e}")))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(password.bytes(), salt, &mut out)
        .map_err(|e| std::io::Error::other(format!("argon2 failed: {e}")))?;
    let key = SubKey::from_bytes(out);
    zeroize::Zeroize::zeroize(&mut out);
    Ok(key)
}

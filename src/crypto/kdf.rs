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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::unhex;

    /// RFC 9106 §5.3 (Argon2id, 32 KiB, 3 passes, 4 lanes, with secret and associated data):
    /// the `argon2` crate we build on computes the standard function.
    #[test]
    fn argon2id_rfc9106_known_answer() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .data(argon2::AssociatedData::new(&[4; 12]).unwrap())
            .output_len(32)
            .build()
            .unwrap();
        let argon = Argon2::new_with_secret(&[3; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let mut out = [0u8; 32];
        argon.hash_password_into(&[1; 32], &[2; 16], &mut out).unwrap();
        assert_eq!(out.to_vec(), unhex("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"));
    }

    /// Our own use (no secret, no associated data, SPEC §4.2), cross-checked against the
    /// reference C implementation (phc-winner-argon2 through Python's `argon2-cffi`
    /// `hash_secret_raw`, type ID, version 0x13).
    #[test]
    fn derive_kek_matches_the_reference_implementation() {
        let params = KdfParams { memory_kib: 256, time_cost: 2, lanes: 2 };
        let kek = derive_kek(
            &Password::from("correct horse battery staple"),
            &unhex("000102030405060708090a0b0c0d0e0f"),
            params,
        )
        .unwrap();
        assert_eq!(
            kek.bytes().to_vec(),
            unhex("9992982626d0fa7b38ee9ce8e7951eeb239679653fcbb197fd39264d51652da5")
        );
    }
}

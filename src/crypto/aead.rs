//! XChaCha20-Poly1305 sealed boxes (SPEC §5.1): a fresh random 24-byte nonce for every box,
//! never derived from content and never a counter.

use cairn_format::envelope::{NONCE_LEN, TAG_LEN};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::keys::SubKey;

/// Authentication failed: wrong key, altered bytes, or wrong associated data.
#[derive(Debug)]
pub(crate) struct AuthFailed;

/// An AEAD cipher under one subkey. The cipher zeroizes its key on drop.
pub(crate) struct Cipher(XChaCha20Poly1305);

impl Cipher {
    pub(crate) fn new(key: &SubKey) -> Cipher {
        Cipher(XChaCha20Poly1305::new(key.bytes().into()))
    }

    /// Appends `nonce ‖ ciphertext ‖ tag` of `parts` (concatenated) to `out`.
    pub(crate) fn seal(&self, aad: &[u8], parts: &[&[u8]], out: &mut Vec<u8>) -> std::io::Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        super::random_bytes(&mut nonce)?;
        out.extend_from_slice(&nonce);
        let start = out.len();
        for part in parts {
            out.extend_from_slice(part);
        }
        let buffer: &mut [u8] = &mut out[start..];
        let tag = self
            .0
            .encrypt_inout_detached(&XNonce::from(nonce), aad, buffer.into())
            .map_err(|_| std::io::Error::other("encryption failed"))?;
        out.extend_from_slice(tag.as_slice());
        Ok(())
    }

    /// Opens a box produced by [`Cipher::seal`] and returns the plaintext.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthFailed> {
        let boxed = cairn_format::envelope::split_sealed(sealed, "sealed").map_err(|_| AuthFailed)?;
        let split = boxed.ciphertext_and_tag.len() - TAG_LEN;
        let (ciphertext, tag) = boxed.ciphertext_and_tag.split_at(split);
        let mut plaintext = ciphertext.to_vec();
        self.0
            .decrypt_inout_detached(
                &XNonce::from(boxed.nonce),
                aad,
                plaintext.as_mut_slice().into(),
                tag.try_into().map_err(|_| AuthFailed)?,
            )
            .map_err(|_| AuthFailed)?;
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cipher() -> Cipher {
        Cipher::new(&SubKey::from_bytes([9; 32]))
    }

    #[test]
    fn seal_then_open_round_trips_and_wrong_aad_fails() {
        let c = cipher();
        let mut sealed = Vec::new();
        c.seal(b"aad", &[b"hello ", b"world"], &mut sealed).unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 11 + TAG_LEN);
        assert_eq!(c.open(b"aad", &sealed).unwrap(), b"hello world");
        assert!(c.open(b"other", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert!(c.open(b"aad", &flipped).is_err());
        assert!(c.open(b"aad", &sealed[..sealed.len() - 1]).is_err());
    }

    /// The Tarsnap lesson: sealing the same plaintext must never repeat a nonce.
    #[test]
    fn nonces_never_repeat() {
        let c = cipher();
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let mut sealed = Vec::new();
            c.seal(b"", &[b"same"], &mut sealed).unwrap();
            assert!(seen.insert(sealed[..NONCE_LEN].to_vec()), "nonce repeated");
        }
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1: our box layout (nonce ‖ ciphertext ‖ tag)
    /// around the published ciphertext opens to the published plaintext, so `Cipher` is the
    /// standard construction and not a variant of it.
    #[test]
    fn xchacha20_poly1305_known_answer() {
        use crate::crypto::unhex;
        let key: [u8; 32] =
            unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f").try_into().unwrap();
        let nonce = unhex("404142434445464748494a4b4c4d4e4f5051525354555657");
        let aad = unhex("50515253c0c1c2c3c4c5c6c7");
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip \
                          for the future, sunscreen would be it.";
        let ciphertext = unhex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa644
             0bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e
             3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e",
        );
        let tag = unhex("c0875924c1c7987947deafd8780acf49");
        let sealed = [nonce, ciphertext, tag].concat();
        let cipher = Cipher::new(&SubKey::from_bytes(key));
        assert_eq!(cipher.open(&aad, &sealed).unwrap(), plaintext);
    }
}

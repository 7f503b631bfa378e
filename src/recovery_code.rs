//! Recovery codes (SPEC §4.2): 256 random bits, shown once as 55 base32 characters in groups
//! of five, that open the repository through a slot of their own. At 256 bits no password
//! stretching is needed, so a recovery code opens instantly on any device.
//!
//! The text form is RFC 4648 base32 (A–Z, 2–7) of the 32 secret bytes followed by a 2-byte
//! checksum, so a mistyped code is recognised as such. Reading is forgiving: case, spaces
//! and dashes are ignored, and the digits 0, 1 and 8, which the alphabet lacks, are read as
//! the letters they are mistaken for (O, I, B). Base32 is written out here because it is 40
//! lines and those reading rules are specific to this use.

use zeroize::{Zeroize, Zeroizing};

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Secret bytes plus checksum bytes.
const CODED_LEN: usize = 34;
/// Base32 characters for 34 bytes (272 bits, rounded up to whole characters).
const TEXT_LEN: usize = 55;
const GROUP: usize = 5;

/// A recovery code's secret. Wiped on drop, never printed by `Debug`.
pub struct RecoveryCode {
    secret: Zeroizing<[u8; 32]>,
}

impl RecoveryCode {
    /// A fresh random code.
    pub(crate) fn generate() -> std::io::Result<RecoveryCode> {
        let mut secret = Zeroizing::new([0u8; 32]);
        crate::crypto::random_bytes(secret.as_mut())?;
        Ok(RecoveryCode { secret })
    }

    /// Reads a code as a person typed it; `None` unless it is a well-formed code with a
    /// matching checksum.
    #[must_use]
    pub fn parse(text: &str) -> Option<RecoveryCode> {
        let mut values = Zeroizing::new(Vec::with_capacity(TEXT_LEN));
        for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'-') {
            let c = match c.to_ascii_uppercase() {
                b'0' => b'O',
                b'1' => b'I',
                b'8' => b'B',
                other => other,
            };
            values.push(u8::try_from(ALPHABET.iter().position(|&a| a == c)?).ok()?);
        }
        if values.len() != TEXT_LEN {
            return None;
        }
        let mut bytes = Zeroizing::new([0u8; CODED_LEN]);
        let (mut acc, mut bits, mut out) = (0u32, 0u32, 0usize);
        for &value in values.iter() {
            acc = (acc << 5) | u32::from(value);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                *bytes.get_mut(out)? = (acc >> bits).to_le_bytes()[0];
                out += 1;
            }
            acc &= (1 << bits) - 1;
        }
        if acc != 0 {
            return None;
        }
        acc.zeroize();
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&bytes[..32]);
        (checksum(&secret) == bytes[32..]).then_some(RecoveryCode { secret })
    }

    /// The code as the user must write it down: 11 groups of 5 characters.
    #[must_use]
    pub fn reveal(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new([0u8; CODED_LEN]);
        bytes[..32].copy_from_slice(self.secret.as_ref());
        bytes[32..].copy_from_slice(&checksum(&self.secret));
        let mut text = Zeroizing::new(String::with_capacity(TEXT_LEN + TEXT_LEN / GROUP));
        let (mut acc, mut bits, mut written) = (0u32, 0u32, 0usize);
        let mut push = |value: u32, text: &mut String| {
            if written > 0 && written % GROUP == 0 {
                text.push('-');
            }
            text.push(char::from(ALPHABET[(value & 31) as usize]));
            written += 1;
        };
        for &byte in bytes.iter() {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                push(acc >> bits, &mut text);
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            push(acc << (5 - bits), &mut text);
        }
        acc.zeroize();
        text
    }

    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

/// Two bytes that catch typing mistakes (not a security measure: the AEAD is).
fn checksum(secret: &[u8; 32]) -> [u8; 2] {
    let digest = blake3::derive_key("cairn 2026-11-23 v1 recovery code checksum", secret);
    [digest[0], digest[1]]
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_text() {
        let code = RecoveryCode::generate().unwrap();
        let text = code.reveal();
        assert_eq!(text.len(), TEXT_LEN + 10, "55 characters and 10 dashes");
        let parsed = RecoveryCode::parse(&text).unwrap();
        assert_eq!(parsed.secret(), code.secret());
    }

    #[test]
    fn reading_forgives_case_spacing_and_confusable_digits() {
        let code = RecoveryCode { secret: Zeroizing::new([0x11; 32]) };
        let text = code.reveal().replace('-', " ").to_lowercase();
        assert!(RecoveryCode::parse(&text).is_some());
        let with_zero = code.reveal().replace('O', "0");
        assert!(RecoveryCode::parse(&with_zero).is_some());
    }

    #[test]
    fn a_typo_or_a_password_is_not_a_code() {
        let code = RecoveryCode::generate().unwrap();
        let mut text = code.reveal().to_string();
        let flipped = if text.starts_with('A') { "B" } else { "A" };
        text.replace_range(0..1, flipped);
        assert!(RecoveryCode::parse(&text).is_none());
        assert!(RecoveryCode::parse("correct horse battery staple").is_none());
        assert!(RecoveryCode::parse("").is_none());
    }

    #[test]
    fn debug_is_redacted() {
        let code = RecoveryCode::generate().unwrap();
        assert_eq!(format!("{code:?}"), "RecoveryCode(redacted)");
    }
}

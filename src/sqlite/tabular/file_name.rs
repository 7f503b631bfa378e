//! File names for exported tables: safe on every common file system, distinct for distinct
//! tables, and readable back into the table's name (rules in the parent module's documentation).

/// Longest stem kept whole: with an extension and the temporary file's affixes, names stay far
/// below the 255-byte limit of common file systems.
const MAX_STEM_LEN: usize = 160;
/// Bytes of an over-long stem kept before its hash.
const SHORTENED_PREFIX_LEN: usize = 120;
/// Hex digits of the name's hash that end a shortened stem: 64 bits.
const HASH_HEX_LEN: usize = 16;

/// Names Windows reserves for devices whatever their extension; `COM0` and `LPT0` included, as
/// newer Windows versions reserve them too.
const WINDOWS_DEVICE_NAMES: [&str; 24] = [
    "CON", "PRN", "AUX", "NUL", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The file name of `table`'s export with the extension `extension`.
pub(super) fn file_name(table: &str, extension: &str) -> String {
    format!("{}.{extension}", stem(table))
}

/// `table` with every byte but ASCII letters, digits, `_` and `-` written as `%XX`; see the
/// parent module for the empty name, device names and long names.
fn stem(table: &str) -> String {
    if table.is_empty() {
        return "%".to_owned();
    }
    let mut stem = String::with_capacity(table.len());
    for &byte in table.as_bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            stem.push(char::from(byte));
        } else {
            push_escaped(&mut stem, byte);
        }
    }
    if WINDOWS_DEVICE_NAMES.iter().any(|device| device.eq_ignore_ascii_case(&stem)) {
        let mut escaped = String::with_capacity(stem.len() + 2);
        push_escaped(&mut escaped, stem.as_bytes()[0]);
        escaped.push_str(&stem[1..]);
        stem = escaped;
    }
    if stem.len() > MAX_STEM_LEN {
        stem = shorten(&stem, table);
    }
    stem
}

fn push_escaped(stem: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    stem.push('%');
    stem.push(char::from(HEX[usize::from(byte >> 4)]));
    stem.push(char::from(HEX[usize::from(byte & 0x0f)]));
}

/// The first bytes of `stem`, never cutting a `%XX` apart, then `~` and a hash of the full
/// name, which keeps shortened names of distinct tables distinct.
fn shorten(stem: &str, table: &str) -> String {
    let mut cut = SHORTENED_PREFIX_LEN;
    if let Some(percent) = stem[..cut].rfind('%')
        && percent + 3 > cut
    {
        cut = percent;
    }
    let hash = crate::crypto::content_hash(table.as_bytes()).to_hex();
    format!("{}~{}", &stem[..cut], &hash[..HASH_HEX_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inverse of [`stem`] for stems that were not shortened: proves no two names share one.
    fn decode(stem: &str) -> Vec<u8> {
        let bytes = stem.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                if i + 1 == bytes.len() {
                    break;
                }
                out.push(u8::from_str_radix(&stem[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    fn is_portable(name: &str) -> bool {
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-%~.".contains(&b)) && !name.starts_with('.')
    }

    /// Path separators, dots and spaces must never reach the file system as themselves.
    #[test]
    fn hostile_names_become_plain_file_names() {
        assert_eq!(file_name("users", "csv"), "users.csv");
        assert_eq!(file_name("order items", "csv"), "order%20items.csv");
        assert_eq!(file_name("../etc/passwd", "json"), "%2E%2E%2Fetc%2Fpasswd.json");
        assert_eq!(file_name("..", "csv"), "%2E%2E.csv");
        assert_eq!(file_name("a\\b:c", "csv"), "a%5Cb%3Ac.csv");
        assert_eq!(file_name("", "csv"), "%.csv");
        assert_eq!(file_name("100%", "csv"), "100%25.csv");
        for name in ["users", "../x", "日本語", "é", "a.b", " x ", "%41", "~"] {
            let file = file_name(name, "csv");
            assert!(is_portable(&file), "{file}");
            assert_eq!(decode(file.strip_suffix(".csv").unwrap()), name.as_bytes(), "{file}");
        }
    }

    /// Case-insensitive file systems must still see distinct files for distinct tables: the
    /// hex is upper-case only, so non-ASCII case variants differ in their escapes.
    #[test]
    fn non_ascii_case_variants_differ_even_ignoring_case() {
        let upper = file_name("É", "csv");
        let lower = file_name("é", "csv");
        assert!(!upper.eq_ignore_ascii_case(&lower), "{upper} {lower}");
    }

    /// `CON.csv` cannot be created on Windows, whatever the case.
    #[test]
    fn windows_device_names_are_escaped() {
        assert_eq!(file_name("con", "csv"), "%63on.csv");
        assert_eq!(file_name("LPT1", "json"), "%4CPT1.json");
        assert_eq!(file_name("console", "csv"), "console.csv");
        assert_eq!(decode("%63on"), b"con");
    }

    /// File names are limited to 255 bytes; long table names must still fit and stay distinct.
    #[test]
    fn long_names_are_shortened_and_stay_distinct() {
        let long_a = "é".repeat(200);
        let long_b = format!("{}x", "é".repeat(199));
        let (a, b) = (file_name(&long_a, "json"), file_name(&long_b, "json"));
        assert_ne!(a, b);
        for file in [&a, &b] {
            assert!(file.len() <= MAX_STEM_LEN + ".json".len(), "{file}");
            assert!(is_portable(file), "{file}");
            let (prefix, hash) = file.strip_suffix(".json").unwrap().split_once('~').unwrap();
            assert_eq!(hash.len(), HASH_HEX_LEN);
            assert!(!prefix.ends_with('%') && prefix.len() <= SHORTENED_PREFIX_LEN);
        }
        assert_eq!(file_name(&"a".repeat(MAX_STEM_LEN), "csv"), format!("{}.csv", "a".repeat(MAX_STEM_LEN)));
    }
}

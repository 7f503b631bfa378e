//! Packs (SPEC §7): a file header, blobs back to back, a sealed header listing them, and an
//! 8-byte trailer giving the sealed header's length. The header at the end lets a writer stream
//! a pack out and lets `repair index` rebuild the index from packs alone.

use crate::FormatError;
use crate::envelope::{BlobType, PAYLOAD_HEADER_LEN, SEAL_OVERHEAD};
use crate::header::FILE_HEADER_LEN;
use crate::id::{ID_LEN, ObjectId};
use crate::limits::{MAX_PACK_ENTRIES, MAX_PACK_HEADER_LEN, MAX_PACK_LEN};
use crate::wire::{Reader, Writer, check_range};

/// Bytes of one entry on the wire.
pub const PACK_ENTRY_LEN: usize = 1 + ID_LEN + 4 + 4 + 4;
/// Length of the trailer: `sealed_header_len u32 ‖ "cpak"`.
pub const PACK_TRAILER_LEN: usize = 8;
/// The last four bytes of every pack.
pub const PACK_TRAILER_MAGIC: [u8; 4] = *b"cpak";
/// The smallest sealed pack header: a sealed payload of one entry.
#[allow(clippy::cast_possible_truncation)] // 94 fits in u32
pub const MIN_SEALED_HEADER_LEN: u32 = MIN_SEALED_LEN + 4 + PACK_ENTRY_LEN as u32;
/// The smallest valid pack: file header, one empty blob, a one-entry header, the trailer.
pub const MIN_PACK_LEN: u64 =
    (FILE_HEADER_LEN + PACK_TRAILER_LEN) as u64 + MIN_SEALED_LEN as u64 + MIN_SEALED_HEADER_LEN as u64;
/// The smallest sealed box a blob or header can be: an empty payload.
#[allow(clippy::cast_possible_truncation)] // 45 fits in u32
pub const MIN_SEALED_LEN: u32 = (SEAL_OVERHEAD + PAYLOAD_HEADER_LEN) as u32;

/// Where one blob sits in its pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PackEntry {
    /// Data or tree.
    pub blob_type: BlobType,
    /// The blob's id.
    pub id: ObjectId,
    /// Offset of the blob's sealed box from the start of the pack file.
    pub offset: u32,
    /// Length of the sealed box.
    pub sealed_len: u32,
    /// Length of the blob's plaintext.
    pub raw_len: u32,
}

impl PackEntry {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.blob_type.code());
        w.bytes(self.id.as_bytes());
        w.u32(self.offset);
        w.u32(self.sealed_len);
        w.u32(self.raw_len);
    }

    /// Decodes one entry; shared with the index, which stores the same fields per blob.
    pub(crate) fn decode(r: &mut Reader<'_>, prefix: &'static str) -> Result<PackEntry, FormatError> {
        let blob_type = BlobType::from_code(r.u8(prefix)?, prefix)?;
        let entry = PackEntry {
            blob_type,
            id: ObjectId(r.array(prefix)?),
            offset: r.u32(prefix)?,
            sealed_len: r.u32(prefix)?,
            raw_len: r.u32(prefix)?,
        };
        check_range(prefix, u64::from(entry.sealed_len), u64::from(MIN_SEALED_LEN), MAX_PACK_LEN)?;
        check_range(prefix, u64::from(entry.raw_len), 0, u64::from(blob_type.max_raw_len()))?;
        Ok(entry)
    }

    /// Offset one past the blob's last byte.
    #[must_use]
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.sealed_len)
    }
}

/// The decoded plaintext of a pack header: every blob in the pack, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PackHeader {
    /// The blobs, ordered by offset, contiguous from the end of the file header.
    pub entries: Vec<PackEntry>,
}

impl PackHeader {
    /// Encodes the header body (to be put in a payload and sealed).
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let mut w = Writer::with_capacity(4 + self.entries.len() * PACK_ENTRY_LEN);
        w.count_u32("pack.entry_count", self.entries.len(), MAX_PACK_ENTRIES)?;
        for entry in &self.entries {
            entry.encode(&mut w);
        }
        Ok(w.into_bytes())
    }

    /// Decodes a header body of a pack whose sealed header starts at `header_offset`, checking
    /// that the blobs tile the file from the file header up to the sealed header.
    pub fn decode(bytes: &[u8], header_offset: u64) -> Result<PackHeader, FormatError> {
        let mut r = Reader::new(bytes);
        let count = r.count_u32("pack.entry_count", MAX_PACK_ENTRIES, PACK_ENTRY_LEN)?;
        if count == 0 {
            return Err(FormatError::InvalidValue {
                field: "pack.entry_count",
                reason: "a pack holds at least one blob",
            });
        }
        let mut entries = Vec::with_capacity(count);
        let mut expected_offset = FILE_HEADER_LEN as u64;
        for _ in 0..count {
            let entry = PackEntry::decode(&mut r, "pack.entry")?;
            if u64::from(entry.offset) != expected_offset {
                return Err(FormatError::InvalidValue {
                    field: "pack.entry.offset",
                    reason: "blobs are not contiguous from the file header",
                });
            }
            if entries.first().is_some_and(|first: &PackEntry| first.blob_type != entry.blob_type) {
                return Err(FormatError::InvalidValue {
                    field: "pack.entry.type",
                    reason: "a pack holds blobs of one type",
                });
            }
            expected_offset = entry.end();
            entries.push(entry);
        }
        r.finish("pack header")?;
        if expected_offset != header_offset {
            return Err(FormatError::InvalidValue {
                field: "pack.entry",
                reason: "blobs do not end where the sealed header starts",
            });
        }
        Ok(PackHeader { entries })
    }
}

/// The trailer that ends a pack whose sealed header is `sealed_header_len` bytes long.
#[must_use]
pub fn encode_trailer(sealed_header_len: u32) -> [u8; PACK_TRAILER_LEN] {
    let [l0, l1, l2, l3] = sealed_header_len.to_le_bytes();
    let [m0, m1, m2, m3] = PACK_TRAILER_MAGIC;
    [l0, l1, l2, l3, m0, m1, m2, m3]
}

/// Decodes the trailer of a pack of `pack_len` bytes and returns the offset and length of its
/// sealed header, checked to lie between the file header and the trailer.
pub fn decode_trailer(trailer: &[u8], pack_len: u64) -> Result<(u64, u32), FormatError> {
    check_range("pack.len", pack_len, MIN_PACK_LEN, MAX_PACK_LEN)?;
    let mut r = Reader::new(trailer);
    let sealed_len = r.u32("pack.trailer.header_len")?;
    let magic: [u8; 4] = r.array("pack.trailer.magic")?;
    r.finish("pack trailer")?;
    if magic != PACK_TRAILER_MAGIC {
        return Err(FormatError::BadMagic { expected: "pack (trailer)" });
    }
    // Between the file header and the trailer there is the header and at least one blob.
    let room = pack_len - (FILE_HEADER_LEN + PACK_TRAILER_LEN) as u64 - u64::from(MIN_SEALED_LEN);
    let max_sealed = u64::from(MAX_PACK_HEADER_LEN) + (SEAL_OVERHEAD + PAYLOAD_HEADER_LEN) as u64;
    check_range(
        "pack.trailer.header_len",
        u64::from(sealed_len),
        u64::from(MIN_SEALED_HEADER_LEN),
        room.min(max_sealed),
    )?;
    let offset = pack_len - PACK_TRAILER_LEN as u64 - u64::from(sealed_len);
    Ok((offset, sealed_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u32, sealed_len: u32) -> PackEntry {
        PackEntry {
            blob_type: BlobType::Data,
            id: ObjectId([offset.to_le_bytes()[0]; 32]),
            offset,
            sealed_len,
            raw_len: sealed_len - MIN_SEALED_LEN,
        }
    }

    #[test]
    fn header_round_trips() {
        let header = PackHeader { entries: vec![entry(8, 100), entry(108, 50)] };
        let bytes = header.encode().unwrap();
        assert_eq!(PackHeader::decode(&bytes, 158).unwrap(), header);
    }

    #[test]
    fn gap_between_blobs_is_rejected() {
        let header = PackHeader { entries: vec![entry(8, 100), entry(110, 50)] };
        let bytes = header.encode().unwrap();
        assert!(PackHeader::decode(&bytes, 160).is_err());
    }

    /// A count larger than the input must fail before it sizes an allocation.
    #[test]
    fn entry_count_beyond_input_is_rejected_before_allocating() {
        let bytes = MAX_PACK_ENTRIES.to_le_bytes();
        assert!(matches!(
            PackHeader::decode(&bytes, 8),
            Err(FormatError::Truncated { field: "pack.entry_count", .. })
        ));
    }

    #[test]
    fn trailer_length_must_fit_the_pack() {
        let trailer = encode_trailer(1000);
        assert!(decode_trailer(&trailer, 500).is_err());
        assert_eq!(decode_trailer(&trailer, 2000).unwrap(), (992, 1000));
        let mut bad = trailer;
        bad[7] = b'x';
        assert!(matches!(decode_trailer(&bad, 2000), Err(FormatError::BadMagic { .. })));
    }
}

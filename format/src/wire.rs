//! Bounds-checked reading and writing of SPEC §2 primitives: the only code that does offset
//! arithmetic on untrusted bytes. Integers are fixed-width little-endian.

use crate::FormatError;

/// Reads SPEC §2 primitives from a byte slice, failing (never panicking) at its end.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not read yet.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `len` bytes.
    pub fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], FormatError> {
        if len > self.rest.len() {
            return Err(truncated(field, len as u64, self.rest.len()));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    /// Fails unless `count` items of `item_len` bytes each are still available: call it before
    /// sizing a collection from a count read off the wire.
    pub fn require(&self, count: usize, item_len: usize, field: &'static str) -> Result<(), FormatError> {
        let needed = count.saturating_mul(item_len);
        if needed > self.rest.len() {
            return Err(truncated(field, needed as u64, self.rest.len()));
        }
        Ok(())
    }

    /// A fixed-size byte array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FormatError> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// An unsigned byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, FormatError> {
        Ok(u8::from_le_bytes(self.array(field)?))
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A little-endian two's-complement `i64`.
    pub fn i64(&mut self, field: &'static str) -> Result<i64, FormatError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }

    /// A `u32` that must lie in `min..=max`.
    pub fn u32_in(&mut self, field: &'static str, min: u32, max: u32) -> Result<u32, FormatError> {
        let value = self.u32(field)?;
        check_range(field, u64::from(value), u64::from(min), u64::from(max))?;
        Ok(value)
    }

    /// A `u32` count of at most `max` items, each at least `min_item_len` bytes long, all of
    /// which must still fit in the input.
    pub fn count_u32(
        &mut self,
        field: &'static str,
        max: u32,
        min_item_len: usize,
    ) -> Result<usize, FormatError> {
        let count = self.u32_in(field, 0, max)?;
        let count = usize::try_from(count).map_err(|_| overflow(field))?;
        self.require(count, min_item_len, field)?;
        Ok(count)
    }

    /// A `u16` count of at most `max` items, each at least `min_item_len` bytes long.
    pub fn count_u16(
        &mut self,
        field: &'static str,
        max: u16,
        min_item_len: usize,
    ) -> Result<usize, FormatError> {
        let count = self.u16(field)?;
        check_range(field, u64::from(count), 0, u64::from(max))?;
        let count = usize::from(count);
        self.require(count, min_item_len, field)?;
        Ok(count)
    }

    /// A `bytes16`: a `u16` length of at most `max`, then that many bytes.
    pub fn bytes16(&mut self, field: &'static str, max: u16) -> Result<&'a [u8], FormatError> {
        let len = self.u16(field)?;
        check_range(field, u64::from(len), 0, u64::from(max))?;
        self.take(usize::from(len), field)
    }

    /// A `bytes16` that must be valid UTF-8.
    pub fn string16(&mut self, field: &'static str, max: u16) -> Result<String, FormatError> {
        let bytes = self.bytes16(field, max)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| FormatError::InvalidValue { field, reason: "not UTF-8" })
    }

    /// Fails if any input is left: objects never carry trailing bytes.
    pub fn finish(self, object: &'static str) -> Result<(), FormatError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(FormatError::TrailingBytes { object, count: self.rest.len() as u64 })
        }
    }
}

/// Fails unless `min <= value <= max`.
pub fn check_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), FormatError> {
    if value < min || value > max {
        return Err(FormatError::OutOfRange { field, value, min, max });
    }
    Ok(())
}

fn truncated(field: &'static str, needed: u64, available: usize) -> FormatError {
    FormatError::Truncated { field, needed, available: available as u64 }
}

fn overflow(field: &'static str) -> FormatError {
    FormatError::InvalidValue { field, reason: "does not fit in memory on this platform" }
}

/// Appends SPEC §2 primitives to a buffer. Lengths that do not fit their field are errors.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity) }
    }

    /// Raw bytes, no length prefix.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// An unsigned byte.
    pub fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A little-endian `i64`.
    pub fn i64(&mut self, value: i64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A `u32` count of at most `max`.
    pub fn count_u32(&mut self, field: &'static str, count: usize, max: u32) -> Result<(), FormatError> {
        check_range(field, count as u64, 0, u64::from(max))?;
        self.u32(u32::try_from(count).map_err(|_| overflow(field))?);
        Ok(())
    }

    /// A `u16` count of at most `max`.
    pub fn count_u16(&mut self, field: &'static str, count: usize, max: u16) -> Result<(), FormatError> {
        check_range(field, count as u64, 0, u64::from(max))?;
        self.u16(u16::try_from(count).map_err(|_| overflow(field))?);
        Ok(())
    }

    /// A `bytes16`: `u16` length (at most `max`), then the bytes.
    pub fn bytes16(&mut self, field: &'static str, bytes: &[u8], max: u16) -> Result<(), FormatError> {
        self.count_u16(field, bytes.len(), max)?;
        self.bytes(bytes);
        Ok(())
    }

    /// Bytes written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The finished buffer.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Fails unless `items` are strictly increasing bytewise (sorted, no duplicates).
pub(crate) fn check_sorted_unique<'a>(
    mut items: impl Iterator<Item = &'a str>,
    field: &'static str,
) -> Result<(), FormatError> {
    let Some(mut previous) = items.next() else {
        return Ok(());
    };
    for item in items {
        if item <= previous {
            return Err(FormatError::InvalidValue { field, reason: "not sorted and unique" });
        }
        previous = item;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A count that promises more items than the input holds must fail before any allocation.
    #[test]
    fn count_beyond_input_is_rejected() {
        let bytes = 1000u32.to_le_bytes();
        let mut r = Reader::new(&bytes);
        assert!(matches!(
            r.count_u32("x.count", 5000, 8),
            Err(FormatError::Truncated { field: "x.count", .. })
        ));
    }

    #[test]
    fn take_past_end_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.take(4, "x").is_err());
        assert_eq!(r.take(3, "x").unwrap(), &[1, 2, 3]);
        assert!(r.u8("y").is_err());
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let r = Reader::new(&[0]);
        assert!(matches!(r.finish("obj"), Err(FormatError::TrailingBytes { count: 1, .. })));
    }
}

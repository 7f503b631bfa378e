//! Recycled byte buffers for the backup pipeline. Chunks and sealed blobs of varying sizes
//! pass between threads thousands of times a second; allocating each afresh fragments the
//! allocator's per-thread arenas until resident memory is several times what is live.
//! Reusing a bounded set of buffers keeps it at what is live.

use std::sync::{Mutex, PoisonError};

/// A stack of cleared buffers, holding at most `max_free` of them.
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    max_free: usize,
}

impl BufferPool {
    pub(crate) fn new(max_free: usize) -> Self {
        BufferPool { free: Mutex::new(Vec::with_capacity(max_free)), max_free }
    }

    /// An empty buffer, recycled when one is free.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default()
    }

    /// Gives a buffer back; beyond `max_free` spare buffers it is freed instead.
    pub(crate) fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.max_free {
            free.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_cleared_and_the_pool_stays_bounded() {
        let pool = BufferPool::new(1);
        let mut a = pool.take();
        a.extend_from_slice(b"data");
        let capacity = a.capacity();
        pool.give(a);
        pool.give(Vec::with_capacity(10));
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
        assert_eq!(pool.take().capacity(), 0, "the second buffer was not kept");
    }
}

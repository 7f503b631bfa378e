//! A bounded in-memory pipe between a database dump running on its own thread and the
//! chunker reading it, so a dump of any size holds a few hundred KiB in memory.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Pieces in flight between the two ends.
const DEPTH: usize = 4;

/// The writing end; dropping it ends the stream.
pub(crate) struct PipeWriter(SyncSender<Vec<u8>>);

/// The reading end; reads end (return 0) once the writer is dropped and everything it wrote
/// was read.
pub(crate) struct PipeReader {
    from: Receiver<Vec<u8>>,
    piece: Vec<u8>,
    at: usize,
}

/// A new pipe.
pub(crate) fn pipe() -> (PipeWriter, PipeReader) {
    let (to, from) = sync_channel(DEPTH);
    (PipeWriter(to), PipeReader { from, piece: Vec::new(), at: 0 })
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.0
            .send(buf.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.piece.len() {
            match self.from.recv() {
                Ok(piece) => {
                    self.piece = piece;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

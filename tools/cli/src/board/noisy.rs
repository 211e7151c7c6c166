//! A link that corrupts the serial traffic on purpose, both ways, for soak tests: each frame written or read
//! is, with probability `1 / every`, given one byte XORed with a random non-zero value. The generator is
//! seeded, so a run is reproducible. Frames are cut at the protocol's 0x00 delimiters; read bytes are held
//! back until their frame's delimiter arrives, so a frame is corrupted at a uniformly drawn byte.

use std::io::{Read, Write};

/// Counts of what a [`Noisy`] link did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoiseCounts {
    /// Frames (writes) sent to the board.
    pub sent: u64,
    /// Of those, corrupted.
    pub sent_corrupted: u64,
    /// Frames received from the board.
    pub received: u64,
    /// Of those, corrupted.
    pub received_corrupted: u64,
}

/// A byte stream `T` whose frames are corrupted at a rate of one in `every`, seeded.
pub struct Noisy<T> {
    inner: T,
    every: u64,
    rng: u64,
    /// Bytes read, up to and including the last delimiter, not yet handed out.
    ready: Vec<u8>,
    /// Bytes read after the last delimiter (a frame still arriving).
    partial: Vec<u8>,
    counts: NoiseCounts,
}

impl<T> Noisy<T> {
    /// `inner`, with one frame in `every` corrupted each way (`every` 100: 1 %), drawn from `seed`.
    pub fn new(inner: T, every: u64, seed: u64) -> Self {
        Self {
            inner,
            every: every.max(1),
            rng: seed,
            ready: Vec::new(),
            partial: Vec::new(),
            counts: NoiseCounts::default(),
        }
    }

    /// What was sent, received and corrupted so far.
    pub fn counts(&self) -> NoiseCounts {
        self.counts
    }

    /// The wrapped stream.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// SplitMix64: the next pseudo-random word.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Corrupts one byte of `frame` with probability `1 / every`; says whether it did.
    fn maybe_corrupt(&mut self, frame: &mut [u8]) -> bool {
        if frame.is_empty() || !self.next().is_multiple_of(self.every) {
            return false;
        }
        let at = (self.next() % frame.len() as u64) as usize;
        let flip = (self.next() % 255) as u8 + 1;
        if let Some(b) = frame.get_mut(at) {
            *b ^= flip;
        }
        true
    }
}

impl<T: Write> Write for Noisy<T> {
    /// One write is one frame (the client writes each frame whole).
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut frame = buf.to_vec();
        self.counts.sent += 1;
        if self.maybe_corrupt(&mut frame) {
            self.counts.sent_corrupted += 1;
        }
        self.inner.write_all(&frame)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Read> Read for Noisy<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut chunk = [0u8; 4096];
        while self.ready.is_empty() {
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            for &byte in chunk.get(..n).unwrap_or_default() {
                self.partial.push(byte);
                if byte == 0 {
                    let mut frame = std::mem::take(&mut self.partial);
                    self.counts.received += 1;
                    if self.maybe_corrupt(&mut frame) {
                        self.counts.received_corrupted += 1;
                    }
                    self.ready.extend_from_slice(&frame);
                }
            }
        }
        let n = buf.len().min(self.ready.len());
        buf[..n].copy_from_slice(&self.ready[..n]);
        self.ready.drain(..n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupts_about_one_frame_in_every_each_way_reproducibly() {
        let frame = [7u8, 1, 2, 3, 4, 5, 6, 0];
        let run = |seed| {
            let mut link = Noisy::new(std::io::Cursor::new(frame.repeat(10_000)), 100, seed);
            let mut got = Vec::new();
            link.read_to_end(&mut got).unwrap();
            let damaged = got.chunks(8).filter(|f| *f != frame).count() as u64;
            (link.counts(), damaged)
        };
        let (counts, damaged) = run(1);
        assert_eq!(counts.received, 10_000);
        // Each corrupted frame differs from the original in exactly one byte (a delimiter may be hit).
        assert_eq!(damaged, counts.received_corrupted);
        assert!((60..=140).contains(&counts.received_corrupted), "{counts:?}");
        assert_eq!(run(1), (counts, damaged), "the same seed corrupts the same frames");
        assert_ne!(run(2).0, counts, "another seed, other frames");

        let mut link = Noisy::new(Vec::new(), 100, 3);
        for _ in 0..10_000 {
            link.write_all(&frame).unwrap();
        }
        let c = link.counts();
        let sent_damaged = link.inner_mut().chunks(8).filter(|f| *f != frame).count() as u64;
        assert_eq!((c.sent, sent_damaged), (10_000, c.sent_corrupted));
        assert!((60..=140).contains(&c.sent_corrupted), "{c:?}");
    }
}

//! Limits on what reading an untrusted archive may cost the host (issue 19: every
//! host-side reader has size, ratio and count limits). The metadata readers (npm's
//! package.json, a wheel's or sdist's metadata) stream a gzip tar through
//! [`bounded_gz`], which stops with an error once the decompressed bytes pass a total or
//! a ratio to the compressed bytes consumed — a decompression bomb costs at most that much
//! CPU and never memory or disk — and count entries against [`MAX_ENTRIES`].

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

/// Decompressed bytes one metadata read may produce.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;
/// Decompressed / compressed, checked past [`RATIO_GRACE`] (node-tar aborts above 1000).
pub const MAX_RATIO: u64 = 1000;
/// Decompressed bytes allowed before the ratio is checked.
pub const RATIO_GRACE: u64 = 1 << 20;
/// Archive entries one metadata read may walk.
pub const MAX_ENTRIES: usize = 100_000;

/// Counts the compressed bytes read through it.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A gzip decoder over `compressed` that fails once the output passes
/// [`MAX_DECOMPRESSED`] or [`MAX_RATIO`] times the input consumed.
pub fn bounded_gz<R: Read>(compressed: R) -> impl Read {
    bounded_gz_with(compressed, MAX_DECOMPRESSED, MAX_RATIO)
}

fn bounded_gz_with<R: Read>(compressed: R, max_total: u64, max_ratio: u64) -> impl Read {
    let count = Rc::new(Cell::new(0));
    let decoder = flate2::read::MultiGzDecoder::new(Counting {
        inner: compressed,
        count: count.clone(),
    });
    Bounded {
        inner: decoder,
        produced: 0,
        compressed: count,
        max_total,
        max_ratio,
    }
}

struct Bounded<R> {
    inner: R,
    produced: u64,
    compressed: Rc<Cell<u64>>,
    max_total: u64,
    max_ratio: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        if self.produced > self.max_total {
            return Err(std::io::Error::other(format!(
                "decompression bomb: more than {} MiB decompressed; reading stopped",
                self.max_total >> 20
            )));
        }
        let compressed = self.compressed.get().max(1);
        if self.produced > RATIO_GRACE && self.produced > self.max_ratio.saturating_mul(compressed)
        {
            return Err(std::io::Error::other(format!(
                "decompression bomb: {} bytes from {compressed} compressed (ratio above {}); reading stopped",
                self.produced, self.max_ratio
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_bomb_stops_at_the_ratio_and_the_total() {
        let zeros = gz(&vec![0u8; 64 << 20]);
        let mut sink = Vec::new();
        let e = bounded_gz(zeros.as_slice())
            .read_to_end(&mut sink)
            .unwrap_err()
            .to_string();
        assert!(e.contains("decompression bomb"), "{e}");
        assert!(sink.len() < 32 << 20, "stopped early: {}", sink.len());
        let e = bounded_gz_with(zeros.as_slice(), 4 << 20, u64::MAX)
            .read_to_end(&mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 4 MiB"), "{e}");
        // ordinary data reads through, both gzip members of a two-member file
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut two = gz(&text);
        two.extend(gz(b"second"));
        let mut out = Vec::new();
        bounded_gz(two.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), text.len() + 6);
    }
}

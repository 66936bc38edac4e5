//! The zip side of [`super`] (wheels, zip sdists): entries from the central directory, as
//! Python's `zipfile` (pip) reads them, with the same limits as tar. A name listed twice
//! is read once — the last copy, which is what `zipfile.open(name)` returns — and
//! reported.

use std::io::Read;

use super::{ArchiveError, Collector, EntryKind, Format, IssueKind, Limit, Limits};

/// A reader that stops once the archive's total byte budget is spent, or once this
/// entry expands past the ratio limit whatever sizes the directory declares.
struct Budget<'r, R> {
    inner: R,
    left: &'r mut u64,
    tripped: &'r mut Option<Limit>,
    /// Compressed size of the entry, its bytes produced so far, and the limits.
    packed: u64,
    produced: u64,
    limits: &'r Limits,
}

impl<R: Read> Read for Budget<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        if n as u64 > *self.left {
            *self.tripped = Some(Limit::TotalBytes);
        } else if self.produced > self.limits.ratio_grace_bytes
            && self.produced > self.packed.max(1).saturating_mul(self.limits.max_ratio)
        {
            *self.tripped = Some(Limit::Ratio);
        }
        if self.tripped.is_some() {
            return Err(std::io::Error::other("archive limit reached"));
        }
        *self.left -= n as u64;
        Ok(n)
    }
}

pub(super) fn read(bytes: &[u8], mut c: Collector<'_, '_>) -> Result<super::Archive, ArchiveError> {
    let limits = c.limits;
    let mut zip = ::zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ArchiveError::Zip(e.to_string()))?;
    if zip.has_duplicate_names() {
        c.issue(
            IssueKind::Duplicate,
            "",
            "the central directory lists a name twice; the last copy is read, as Python's zipfile does",
        );
    }
    let mut left = limits.max_total_bytes;
    let mut stop: Option<(Limit, String)> = None;
    let mut truncated: Option<String> = None;
    for i in 0..zip.len() {
        if i >= limits.max_entries {
            stop = Some((
                Limit::Entries,
                format!("more than {} entries; reading stopped", limits.max_entries),
            ));
            break;
        }
        let mut f = match zip.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                c.issue(
                    IssueKind::Malformed,
                    "",
                    format!("entry {i} cannot be read: {e}"),
                );
                continue;
            }
        };
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        let declared = f.size();
        let packed = f.compressed_size();
        if declared > limits.ratio_grace_bytes
            && declared > packed.max(1).saturating_mul(limits.max_ratio)
        {
            stop = Some((
                Limit::Ratio,
                format!(
                    "{name} declares {declared} bytes from {packed} compressed (ratio over {})",
                    limits.max_ratio
                ),
            ));
            break;
        }
        let mode = f.unix_mode().unwrap_or(0);
        let kind = if f.is_dir() {
            EntryKind::Dir
        } else if f.is_symlink() {
            EntryKind::Symlink
        } else {
            match mode & 0o170000 {
                0o020000 => EntryKind::CharDevice,
                0o060000 => EntryKind::BlockDevice,
                0o010000 => EntryKind::Fifo,
                _ => EntryKind::File,
            }
        };
        let mut tripped = None;
        let r = if kind == EntryKind::Symlink {
            // The target is the content.
            let mut target = Vec::new();
            let r = Budget {
                inner: (&mut f).take(4096),
                left: &mut left,
                tripped: &mut tripped,
                packed,
                produced: 0,
                limits,
            }
            .read_to_end(&mut target);
            let target = String::from_utf8_lossy(&target).into_owned();
            r.and_then(|_| c.content(name.clone(), kind, Some(target), 0, &mut std::io::empty()))
        } else {
            let mut body = Budget {
                inner: &mut f,
                left: &mut left,
                tripped: &mut tripped,
                packed,
                produced: 0,
                limits,
            };
            c.content(name.clone(), kind, None, declared, &mut body)
        };
        if let Some(limit) = tripped {
            let detail = match limit {
                Limit::Ratio => format!(
                    "{name} expands more than {} times its {packed} compressed bytes; reading stopped",
                    limits.max_ratio
                ),
                _ => format!(
                    "reading stopped at {name}: over {} decompressed bytes",
                    limits.max_total_bytes
                ),
            };
            stop = Some((limit, detail));
            break;
        }
        if let Err(e) = r {
            truncated = Some(format!("{name}: {e}"));
        }
    }
    let complete = stop.is_none() && truncated.is_none();
    if let Some((limit, detail)) = stop {
        let at = c
            .entries
            .last()
            .map(|e| e.stored_path.clone())
            .unwrap_or_default();
        c.issue(IssueKind::LimitExceeded { limit }, &at, detail);
    }
    if let Some(detail) = truncated {
        c.issue(
            IssueKind::Truncated,
            "",
            format!("an entry could not be read to its end: {detail}"),
        );
    }
    let produced = limits.max_total_bytes - left;
    Ok(c.finish(Format::Zip, complete, bytes.len() as u64, produced))
}

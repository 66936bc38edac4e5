//! The tar side of [`super`]: a block-by-block walker over a plain or gzip stream that
//! reads every entry any common extractor would (node-tar, Python's tarfile, GNU tar),
//! using the `tar` crate only to decode header fields. The `tar` crate's own iterator
//! stops at the first zero block and errors on a bad header; node-tar goes on past both,
//! so a file hidden behind either would have been missed.

use std::io::Read;

use flate2::bufread::GzDecoder;

use super::{Collector, EntryKind, Format, IssueKind, Limit, Limits};

/// Largest pax or GNU long-name record read (node-tar's `maxMetaEntrySize` is 1 MiB).
const MAX_META: u64 = 1 << 20;

/// Whether `block` is a tar header with a valid checksum (unsigned or signed sum).
pub(super) fn header_valid(block: &[u8]) -> bool {
    if block.len() < 512 || block.iter().all(|b| *b == 0) {
        return false;
    }
    let h = ::tar::Header::from_byte_slice(&block[..512]);
    let Ok(stored) = h.cksum() else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u32, 0i64);
    for (i, b) in block[..512].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u32::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::from(stored) == signed
}

/// A decompressed stream that counts what it produced and enforces the byte and ratio
/// limits; gzip members are read one after another to the end of the input.
struct Source<'a> {
    input: &'a [u8],
    /// The current gzip member; `None` for a plain tar.
    gz: Option<GzDecoder<&'a [u8]>>,
    /// Plain tar: bytes not yet read.
    plain: &'a [u8],
    members: usize,
    trailing: usize,
    /// The last member ended (and trailing bytes, if any, were set aside).
    done: bool,
    produced: u64,
    limits: &'a Limits,
    tripped: Option<Limit>,
}

impl<'a> Source<'a> {
    fn new(input: &'a [u8], format: Format, limits: &'a Limits) -> Source<'a> {
        let gz = (format == Format::TarGz).then(|| GzDecoder::new(input));
        Source {
            input,
            members: usize::from(gz.is_some()),
            gz,
            plain: if format == Format::Tar { input } else { &[] },
            trailing: 0,
            done: false,
            produced: 0,
            limits,
            tripped: None,
        }
    }

    fn consumed(&self) -> u64 {
        match &self.gz {
            Some(_) if self.done => self.input.len() as u64,
            Some(d) => (self.input.len() - d.get_ref().len()) as u64,
            None => (self.input.len() - self.plain.len()) as u64,
        }
    }

    fn raw_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(gz) = self.gz.as_mut() else {
            return self.plain.read(buf);
        };
        if self.done {
            return Ok(0);
        }
        loop {
            let n = gz.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // End of one member: another one, trailing bytes, or the end.
            let rest: &'a [u8] = gz.get_ref();
            if rest.is_empty() {
                self.done = true;
                return Ok(0);
            }
            if rest.starts_with(&[0x1f, 0x8b]) {
                self.members += 1;
                *gz = GzDecoder::new(rest);
                continue;
            }
            // node's zlib and Python's gzip ignore what follows the last member (Python
            // only zeros, but tarfile stops reading at the end-of-archive marker).
            self.trailing = rest.len();
            self.done = true;
            return Ok(0);
        }
    }
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.tripped.is_some() {
            return Err(std::io::Error::other("archive limit reached"));
        }
        let n = self.raw_read(buf)?;
        self.produced += n as u64;
        let l = self.limits;
        if self.produced > l.max_total_bytes {
            self.tripped = Some(Limit::TotalBytes);
        } else if self.gz.is_some()
            && self.produced > l.ratio_grace_bytes
            && self.produced > self.consumed().max(1).saturating_mul(l.max_ratio)
        {
            self.tripped = Some(Limit::Ratio);
        }
        if self.tripped.is_some() {
            return Err(std::io::Error::other("archive limit reached"));
        }
        Ok(n)
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of stream before any.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Skips `n` bytes of `r`.
fn skip(r: &mut impl Read, n: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut r.take(n), &mut std::io::sink())?;
    if copied < n {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

/// Reads a tar (plain or gzip) under `limits`.
pub(super) fn read(bytes: &[u8], format: Format, mut c: Collector<'_, '_>) -> super::Archive {
    let limits = c.limits;
    let mut src = Source::new(bytes, format, limits);
    let mut block = [0u8; 512];
    // Pending pax / GNU long-name overrides for the next header.
    let (mut long_path, mut long_link): (Option<String>, Option<String>) = (None, None);
    let mut pax_path: Option<String> = None;
    let mut pax_link: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    let (mut global_path, mut global_link): (Option<String>, Option<String>) = (None, None);
    let mut zeros = 0usize;
    let mut ended = false; // two zero blocks seen: node-tar and GNU tar stop here
    let mut anomaly = false; // an entry after this point is read by some extractors only
    let mut skipped_blocks = 0usize;
    let mut error: Option<std::io::Error> = None;
    let mut entries = 0usize;
    loop {
        match fill(&mut src, &mut block) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        if block.iter().all(|b| *b == 0) {
            zeros += 1;
            if zeros >= 2 {
                ended = true;
            }
            continue;
        }
        if !header_valid(&block) {
            // node-tar warns and resyncs on the next block; tarfile stops here.
            skipped_blocks += 1;
            anomaly = true;
            zeros = 0;
            continue;
        }
        if zeros > 0 || ended {
            // Python's tarfile stops at the first zero block, node-tar at two.
            anomaly = true;
        }
        zeros = 0;
        let h = ::tar::Header::from_byte_slice(&block);
        let type_byte = block[156];
        let declared = pax_size.take().or_else(|| h.entry_size().ok()).unwrap_or(0);
        let stored = || String::from_utf8_lossy(&h.path_bytes()).into_owned();
        match type_byte {
            b'x' | b'g' | b'L' | b'K' | b'X' => {
                if declared > MAX_META {
                    c.issue(
                        IssueKind::Malformed,
                        &stored(),
                        format!("a {declared}-byte extended header (skipped)"),
                    );
                    if let Err(e) = skip(&mut src, declared + padding(declared)) {
                        error = Some(e);
                        break;
                    }
                    continue;
                }
                let mut data = vec![0u8; declared as usize];
                let r = fill(&mut src, &mut data).and_then(|_| skip(&mut src, padding(declared)));
                if let Err(e) = r {
                    error = Some(e);
                    break;
                }
                match type_byte {
                    b'L' => long_path = Some(cstr(&data)),
                    b'K' => long_link = Some(cstr(&data)),
                    _ => {
                        let global = type_byte == b'g';
                        for ext in ::tar::PaxExtensions::new(&data).flatten() {
                            let (Ok(k), Ok(v)) = (ext.key(), ext.value()) else {
                                continue;
                            };
                            match (k, global) {
                                ("path", false) => pax_path = Some(v.to_string()),
                                ("linkpath", false) => pax_link = Some(v.to_string()),
                                ("size", false) => pax_size = v.trim().parse().ok(),
                                ("path", true) => global_path = Some(v.to_string()),
                                ("linkpath", true) => global_link = Some(v.to_string()),
                                _ => {}
                            }
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        entries += 1;
        if entries > limits.max_entries {
            src.tripped = Some(Limit::Entries);
            break;
        }
        let path = pax_path
            .take()
            .or_else(|| long_path.take())
            .or_else(|| global_path.clone())
            .unwrap_or_else(stored);
        let link = pax_link
            .take()
            .or_else(|| long_link.take())
            .or_else(|| global_link.clone())
            .or_else(|| {
                h.link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            })
            .filter(|l| !l.is_empty());
        let kind = match type_byte {
            b'0' | 0 | b'7' | b'M' | b'S' => EntryKind::File,
            b'1' => EntryKind::Hardlink,
            b'2' => EntryKind::Symlink,
            b'3' => EntryKind::CharDevice,
            b'4' => EntryKind::BlockDevice,
            b'5' => EntryKind::Dir,
            b'6' => EntryKind::Fifo,
            other => {
                // tarfile writes unknown types as regular files, node-tar skips them.
                c.issue(
                    IssueKind::Malformed,
                    &path,
                    format!(
                        "entry type {:?} that only some extractors write as a file",
                        other as char
                    ),
                );
                EntryKind::File
            }
        };
        // Links, devices and directories have no content even when a size is declared.
        let content = match kind {
            EntryKind::File => declared,
            _ => 0,
        };
        let link = link.filter(|_| matches!(kind, EntryKind::Symlink | EntryKind::Hardlink));
        let mut body = (&mut src).take(content);
        let r = c.content(path, kind, link, content, &mut body);
        if let Some(e) = c.entries.last_mut() {
            e.after_anomaly = anomaly;
        }
        let r = r
            .and_then(|_| {
                if body.limit() > 0 {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                } else {
                    Ok(())
                }
            })
            .and_then(|_| skip(&mut src, declared - content + padding(declared)));
        if let Err(e) = r {
            error = Some(e);
            break;
        }
    }
    let complete = src.tripped.is_none() && error.is_none();
    let at = c
        .entries
        .last()
        .map(|e| e.stored_path.clone())
        .unwrap_or_default();
    if let Some(limit) = src.tripped {
        let detail = match limit {
            Limit::TotalBytes => format!(
                "reading stopped after {} decompressed bytes (limit {})",
                src.produced, limits.max_total_bytes
            ),
            Limit::Ratio => format!(
                "decompression ratio over {} ({} bytes from {}); reading stopped",
                limits.max_ratio,
                src.produced,
                src.consumed()
            ),
            Limit::Entries => format!("more than {} entries; reading stopped", limits.max_entries),
        };
        c.issue(IssueKind::LimitExceeded { limit }, &at, detail);
    } else if let Some(e) = error {
        c.issue(
            IssueKind::Truncated,
            &at,
            format!(
                "the archive stream broke after {} bytes: {e}; later entries were not read",
                src.produced
            ),
        );
    }
    if skipped_blocks > 0 {
        c.issue(
            IssueKind::Malformed,
            "",
            format!("{skipped_blocks} blocks that are not valid tar headers were skipped (node-tar skips them, Python's tarfile stops)"),
        );
    }
    let late = c.entries.iter().filter(|e| e.after_anomaly).count();
    if late > 0 {
        c.issue(
            IssueKind::Malformed,
            "",
            format!("{late} entries follow a zero block, the end-of-archive marker or a skipped block: extractors disagree on whether they exist"),
        );
    }
    if src.trailing > 0 {
        c.issue(
            IssueKind::Malformed,
            "",
            format!(
                "{} bytes after the end of the gzip stream (ignored)",
                src.trailing
            ),
        );
    }
    if src.members > 1 {
        let members = src.members;
        c.issue(
            IssueKind::ConcatenatedGzip { members },
            "",
            format!(
                "{members} gzip members concatenated; every member was read, as npm and pip do"
            ),
        );
    }
    let consumed = src.consumed();
    let produced = src.produced;
    c.finish(format, complete, consumed, produced)
}

/// A NUL-terminated string from a GNU long-name record.
fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

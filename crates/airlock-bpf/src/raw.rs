//! One ring-buffer record as the kernel side wrote it (`src/bpf/recorder.bpf.h`): a
//! fixed header and up to four data segments. Reading is bounds-checked and never
//! panics: a short or inconsistent record is an error the caller counts.

/// Record kinds that are not syscall numbers (see `recorder.bpf.h`).
pub const KIND_EXEC_ARGS: u32 = 1000;
pub const KIND_FORK: u32 = 1001;
pub const KIND_EXIT: u32 = 1002;

pub const FLAG_ARGV_CUT: u32 = 1;
pub const FLAG_ENV_CUT: u32 = 2;
pub const FLAG_PATH_CUT: u32 = 4;

/// Size of `struct rec`.
pub const HEADER: usize = 80;

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawRecord {
    pub kind: u32,
    /// Thread group, thread and parent ids in the sandbox's PID namespace.
    pub tgid: u32,
    pub tid: u32,
    pub ppid: u32,
    /// CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    pub ret: i64,
    pub a: [u64; 4],
    pub flags: u32,
    pub segs: [Vec<u8>; 4],
}

/// Why bytes were not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    #[error("record of {0} bytes is shorter than its {HEADER}-byte header")]
    Short(usize),
    #[error("record segments need {need} bytes, the record has {have}")]
    Segments { need: usize, have: usize },
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

impl RawRecord {
    /// Decodes one record.
    pub fn parse(b: &[u8]) -> Result<RawRecord, RawError> {
        if b.len() < HEADER {
            return Err(RawError::Short(b.len()));
        }
        let lens = [
            u16_at(b, 64) as usize,
            u16_at(b, 66) as usize,
            u16_at(b, 68) as usize,
            u16_at(b, 70) as usize,
        ];
        let need = HEADER + lens.iter().sum::<usize>();
        if need > b.len() {
            return Err(RawError::Segments {
                need,
                have: b.len(),
            });
        }
        let mut segs: [Vec<u8>; 4] = Default::default();
        let mut at = HEADER;
        for (seg, len) in segs.iter_mut().zip(lens) {
            *seg = b[at..at + len].to_vec();
            at += len;
        }
        Ok(RawRecord {
            kind: u32_at(b, 0),
            tgid: u32_at(b, 4),
            tid: u32_at(b, 8),
            ppid: u32_at(b, 12),
            ts_ns: u64_at(b, 16),
            ret: u64_at(b, 24) as i64,
            a: [u64_at(b, 32), u64_at(b, 40), u64_at(b, 48), u64_at(b, 56)],
            flags: u32_at(b, 72),
            segs,
        })
    }

    /// The inverse of [`RawRecord::parse`] (for tests and recorded fixtures).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER + self.segs.iter().map(Vec::len).sum::<usize>());
        b.extend(self.kind.to_le_bytes());
        b.extend(self.tgid.to_le_bytes());
        b.extend(self.tid.to_le_bytes());
        b.extend(self.ppid.to_le_bytes());
        b.extend(self.ts_ns.to_le_bytes());
        b.extend(self.ret.to_le_bytes());
        for a in self.a {
            b.extend(a.to_le_bytes());
        }
        for s in &self.segs {
            b.extend((s.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
        }
        b.extend(self.flags.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        for s in &self.segs {
            b.extend(s);
        }
        b
    }

    /// Segment `i` as one string (its terminating NUL dropped), if present.
    pub fn string(&self, i: usize) -> Option<Vec<u8>> {
        let s = self.segs.get(i)?;
        if s.is_empty() {
            return None;
        }
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        Some(s[..end].to_vec())
    }

    /// Segment `i` as a NUL-separated list (argv, environment).
    pub fn list(&self, i: usize) -> Vec<Vec<u8>> {
        let Some(s) = self.segs.get(i) else {
            return Vec::new();
        };
        let s = s.strip_suffix(&[0]).unwrap_or(s);
        if s.is_empty() {
            return Vec::new();
        }
        s.split(|&c| c == 0).map(<[u8]>::to_vec).collect()
    }

    /// Segment `i` as a walked path (components leaf first) made absolute; `None` when
    /// the segment is absent.
    pub fn walked(&self, i: usize) -> Option<String> {
        let s = self.segs.get(i)?;
        if s.is_empty() {
            // A walk that found no component is the root itself (or nothing was walked).
            return None;
        }
        let mut parts: Vec<String> = s
            .strip_suffix(&[0])
            .unwrap_or(s)
            .split(|&c| c == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        parts.reverse();
        Some(format!("/{}", parts.join("/")))
    }

    /// The signed argument `i`.
    pub fn arg_i64(&self, i: usize) -> i64 {
        self.a.get(i).copied().unwrap_or(0) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_segments() {
        let r = RawRecord {
            kind: KIND_EXEC_ARGS,
            tgid: 7,
            tid: 8,
            ppid: 1,
            ts_ns: 123,
            ret: -2,
            a: [1, 2, 3, 4],
            flags: FLAG_ENV_CUT,
            segs: [
                b"/usr/bin/node\0".to_vec(),
                b"node\0-e\0x\0".to_vec(),
                Vec::new(),
                b"project\0work\0".to_vec(),
            ],
        };
        let back = RawRecord::parse(&r.to_bytes()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.string(0).unwrap(), b"/usr/bin/node");
        assert_eq!(
            back.list(1),
            vec![b"node".to_vec(), b"-e".to_vec(), b"x".to_vec()]
        );
        assert!(back.list(2).is_empty());
        assert_eq!(back.walked(3).as_deref(), Some("/work/project"));
        assert_eq!(back.string(2), None);
    }

    #[test]
    fn short_records_are_errors() {
        assert_eq!(RawRecord::parse(&[0u8; 10]), Err(RawError::Short(10)));
        let mut b = RawRecord::default().to_bytes();
        b[64] = 9;
        assert!(matches!(
            RawRecord::parse(&b),
            Err(RawError::Segments { .. })
        ));
    }
}

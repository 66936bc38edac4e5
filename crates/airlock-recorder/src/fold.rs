//! Folding of repetitive strace lines, so that a package cannot flood the tracer to hide
//! what it does next (issue 19: ~200k failed `open()` calls with 2 KB paths filled the
//! trace area and the credential read and dropped miner after them were never recorded).
//!
//! A [`LineFolder`] looks at each complete strace line. Lines of a *foldable* call (a
//! path lookup that failed, a read-only open or an existence check that succeeded) are
//! grouped by a key — syscall, result, and for a failure the *shape* of the path (digit
//! runs become `#`, components longer than [`LONG_COMPONENT`] become `<long>`, the whole
//! cut at [`SHAPE_MAX`] bytes), for a success the exact path: a read of a file is folded
//! only after the same file was read as often, so reading many look-alike files first
//! cannot hide the read of a credential. The first [`LineFolder::keep_first`] lines of each key are kept
//! verbatim; the rest are only counted. Everything else is always kept: `execve`,
//! `connect`, `clone`, exits, writes, successful deletions and renames, and every line
//! that is half of an `<unfinished ...>`/`resumed>` pair (folding one half would leave
//! the parser with a call that never ends).
//!
//! The counts come out as `# airlock-fold` lines ([`LineFolder::summary_lines`]), which
//! the [`crate::Recorder`] turns into summary events with the count, so a trace that was
//! folded still says how many calls of each shape happened, when, and by which process.
//! The same folder runs where the trace leaves the container (bounding the bytes the
//! host stores) and inside the recorder (bounding the events of a raw trace); folding an
//! already folded trace changes nothing.

use std::collections::HashMap;

/// Lines of one key kept verbatim before the rest are only counted.
pub const KEEP_FIRST: u32 = 100;
/// Distinct keys tracked; past this, new keys of failed calls are folded into a coarse key
/// (syscall, result and the path's first component) and new successful calls are kept
/// untracked, so memory stays bounded.
pub const MAX_KEYS: usize = 50_000;
/// Path components longer than this become `<long>` in a shape.
pub const LONG_COMPONENT: usize = 48;
/// Longest shape kept, in bytes.
pub const SHAPE_MAX: usize = 256;
/// Prefix of the summary lines.
pub const FOLD_PREFIX: &str = "# airlock-fold ";

/// Calls whose failures (and, for opens of files for reading and existence checks,
/// successes) can be folded.
const FOLDABLE: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "access",
    "faccessat",
    "faccessat2",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "chmod",
    "fchmodat",
];

/// One group of folded calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// Calls counted but not kept.
    pub count: u64,
    pub first_ts: f64,
    pub last_ts: f64,
    /// The process (or thread) of the first folded call.
    pub pid: u32,
    pub syscall: String,
    /// `ok` or the errno (`ENOENT`).
    pub result: String,
    pub shape: String,
}

impl Folded {
    /// The `# airlock-fold` line for this group.
    pub fn to_line(&self) -> String {
        format!(
            "{FOLD_PREFIX}{} {:.6} {:.6} {} {} {} {}",
            self.count,
            self.first_ts,
            self.last_ts,
            self.pid,
            self.syscall,
            self.result,
            self.shape
        )
    }

    /// Parses a `# airlock-fold` line.
    pub fn parse(line: &str) -> Option<Folded> {
        let rest = line
            .trim_end_matches(['\n', '\r'])
            .strip_prefix(FOLD_PREFIX)?;
        let mut it = rest.splitn(7, ' ');
        let count = it.next()?.parse().ok()?;
        let first_ts = it.next()?.parse().ok()?;
        let last_ts = it.next()?.parse().ok()?;
        let pid = it.next()?.parse().ok()?;
        let syscall = it.next()?.to_string();
        let result = it.next()?.to_string();
        let shape = it.next()?.to_string();
        Some(Folded {
            count,
            first_ts,
            last_ts,
            pid,
            syscall,
            result,
            shape,
        })
    }
}

#[derive(Debug)]
struct Slot {
    seen: u64,
    folded: Option<Folded>,
}

/// Decides, line by line, what to keep and what to count. See the module docs.
#[derive(Debug)]
pub struct LineFolder {
    keep_first: u32,
    max_keys: usize,
    slots: HashMap<String, Slot>,
    /// Insertion order of keys that folded something (for a stable summary).
    order: Vec<String>,
    folded_lines: u64,
    folded_bytes: u64,
}

impl Default for LineFolder {
    fn default() -> Self {
        Self::new(KEEP_FIRST, MAX_KEYS)
    }
}

impl LineFolder {
    pub fn new(keep_first: u32, max_keys: usize) -> Self {
        LineFolder {
            keep_first,
            max_keys,
            slots: HashMap::new(),
            order: Vec::new(),
            folded_lines: 0,
            folded_bytes: 0,
        }
    }

    /// True when the line is to be kept, false when it was only counted.
    pub fn admit(&mut self, line: &str) -> bool {
        let Some(c) = classify(line) else {
            return true;
        };
        let shape = if c.result == "ok" {
            exact(&c.path)
        } else {
            shape(&c.path)
        };
        let mut key = format!("{} {} {}", c.syscall, c.result, shape);
        if !self.slots.contains_key(&key) && self.slots.len() >= self.max_keys {
            if c.result == "ok" {
                return true;
            }
            let first = shape.split('/').nth(1).unwrap_or_default();
            key = format!("{} {} /{first}/<many>", c.syscall, c.result);
        }
        let slot = self.slots.entry(key.clone()).or_insert(Slot {
            seen: 0,
            folded: None,
        });
        slot.seen += 1;
        if slot.seen <= u64::from(self.keep_first) {
            return true;
        }
        match &mut slot.folded {
            Some(f) => {
                f.count += 1;
                f.last_ts = c.ts;
            }
            None => {
                let shape = key.splitn(3, ' ').nth(2).unwrap_or_default().to_string();
                slot.folded = Some(Folded {
                    count: 1,
                    first_ts: c.ts,
                    last_ts: c.ts,
                    pid: c.pid,
                    syscall: c.syscall.to_string(),
                    result: c.result.to_string(),
                    shape,
                });
                self.order.push(key);
            }
        }
        self.folded_lines += 1;
        self.folded_bytes += line.len() as u64;
        false
    }

    /// Lines counted but not kept.
    pub fn folded_lines(&self) -> u64 {
        self.folded_lines
    }

    /// Bytes of the lines counted but not kept.
    pub fn folded_bytes(&self) -> u64 {
        self.folded_bytes
    }

    /// The groups that folded something, in the order they started folding.
    pub fn folded(&self) -> Vec<Folded> {
        self.order
            .iter()
            .filter_map(|k| self.slots.get(k).and_then(|s| s.folded.clone()))
            .collect()
    }

    /// One `# airlock-fold` line per group (each ends with a newline).
    pub fn summary_lines(&self) -> String {
        self.folded()
            .iter()
            .map(|f| f.to_line() + "\n")
            .collect::<String>()
    }
}

/// What a foldable line says.
struct Call<'a> {
    pid: u32,
    ts: f64,
    syscall: &'a str,
    result: &'a str,
    path: String,
}

/// A complete call line of a foldable syscall with a foldable result, or `None`.
fn classify(line: &str) -> Option<Call<'_>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let (pid, ts, body) = crate::recorder::split_prefix(line)?;
    let open = body.find('(')?;
    let syscall = &body[..open];
    if !FOLDABLE.contains(&syscall) {
        return None;
    }
    if body.ends_with(" <unfinished ...>") || body.starts_with("<... ") {
        return None;
    }
    let eq = body.rfind(") = ")?;
    let ret = &body[eq + 4..];
    let args = &body[open + 1..eq];
    let result = if let Some(rest) = ret.strip_prefix("-1 ") {
        rest.split_whitespace()
            .next()
            .filter(|e| e.starts_with('E'))?
    } else {
        let read_only_open = matches!(syscall, "open" | "openat" | "openat2")
            && !["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                .iter()
                .any(|f| args.contains(f));
        let check = matches!(syscall, "access" | "faccessat" | "faccessat2");
        if !(read_only_open || check) || ret.starts_with('?') {
            return None;
        }
        "ok"
    };
    let (dir, path) = first_path(args)?;
    let path = if path.starts_with('/') {
        path
    } else {
        format!("{}/{path}", dir.unwrap_or_default())
    };
    Some(Call {
        pid,
        ts,
        syscall,
        result,
        path,
    })
}

/// The first quoted string of an argument list (its escapes left as strace printed
/// them), and the directory annotation of a dirfd before it (`AT_FDCWD</dir>`).
fn first_path(args: &str) -> Option<(Option<String>, String)> {
    let q = args.find('"')?;
    let before = &args[..q];
    let dir = before
        .find("</")
        .map(|i| &before[i + 1..])
        .and_then(|d| d.rfind('>').map(|j| d[..j].to_string()));
    let bytes = args.as_bytes();
    let mut i = q + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some((dir, args[q + 1..i].to_string())),
            _ => i += 1,
        }
    }
    None
}

/// A path as a key: cut at [`SHAPE_MAX`] bytes, spaces escaped.
fn exact(path: &str) -> String {
    let mut cut = path.len().min(SHAPE_MAX);
    while !path.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = path[..cut].replace(' ', "\\x20");
    if cut < path.len() {
        out.push('…');
    }
    out
}

/// The shape of a path: digit runs → `#`, long components → `<long>`, cut at
/// [`SHAPE_MAX`] bytes (on a char boundary).
pub fn shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(SHAPE_MAX) + 8);
    for (i, comp) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if comp.chars().count() > LONG_COMPONENT {
            out.push_str("<long>");
        } else {
            let mut in_digits = false;
            for ch in comp.chars() {
                if ch.is_ascii_digit() {
                    if !in_digits {
                        out.push('#');
                    }
                    in_digits = true;
                } else {
                    in_digits = false;
                    out.push(ch);
                }
            }
        }
        if out.len() > SHAPE_MAX {
            break;
        }
    }
    if out.len() > SHAPE_MAX {
        let mut cut = SHAPE_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out.replace(' ', "\\x20")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flood_line(i: u32) -> String {
        format!(
            "4242 1795296591.{:06} openat(AT_FDCWD</home/runner/project>, \"/nonexistent/{}/{i}\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)",
            i % 1_000_000,
            "d".repeat(200)
        )
    }

    #[test]
    fn shapes() {
        assert_eq!(shape("/tmp/a123/b4c5"), "/tmp/a#/b#c#");
        assert_eq!(shape(&format!("/x/{}/y", "d".repeat(200))), "/x/<long>/y");
        assert!(shape(&"/abc".repeat(200)).len() <= SHAPE_MAX + '…'.len_utf8());
        assert_eq!(shape("/a b"), "/a\\x20b");
    }

    #[test]
    fn a_flood_of_failed_opens_folds_to_one_count() {
        let mut f = LineFolder::default();
        let kept = (0..200_000).filter(|&i| f.admit(&flood_line(i))).count();
        assert_eq!(kept, KEEP_FIRST as usize);
        assert_eq!(f.folded_lines(), 200_000 - u64::from(KEEP_FIRST));
        let groups = f.folded();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].syscall, "openat");
        assert_eq!(groups[0].result, "ENOENT");
        assert_eq!(groups[0].pid, 4242);
        assert_eq!(groups[0].shape, "/nonexistent/<long>/#");
        // What the flood hid is kept: a canary read, a miner's exec and connect.
        for line in [
            "4242 1795296599.000001 openat(AT_FDCWD</home/runner/project>, \"/home/runner/.aws/credentials\", O_RDONLY|O_CLOEXEC) = 21</home/runner/.aws/credentials>",
            "4250 1795296599.000002 execve(\"/tmp/.cache-x/xmrig\", [\"/tmp/.cache-x/xmrig\", \"-o\", \"pool.minexmr.example:3333\"], 0x7ffd /* 20 vars */) = 0",
            "4250 1795296599.000003 connect(3<TCP:[1234]>, {sa_family=AF_INET, sin_port=htons(3333), sin_addr=inet_addr(\"198.18.0.9\")}, 16) = 0",
            "4242 1795296599.000004 openat(AT_FDCWD</home/runner/project>, \"/tmp/.cache-x/xmrig\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 22</tmp/.cache-x/xmrig>",
            "4242 1795296599.000005 +++ exited with 0 +++",
        ] {
            assert!(f.admit(line), "{line}");
        }
        // The summary line round-trips.
        let text = f.summary_lines();
        let back = Folded::parse(text.lines().next().unwrap()).unwrap();
        assert_eq!(back.count, groups[0].count);
        assert_eq!(back.shape, groups[0].shape);
        assert!((back.first_ts - groups[0].first_ts).abs() < 1e-6);
    }

    #[test]
    fn split_calls_writes_and_distinct_shapes_are_kept() {
        let mut f = LineFolder::new(2, MAX_KEYS);
        let unfinished = "7 1.000001 openat(AT_FDCWD</w>, \"/x/1\", O_RDONLY <unfinished ...>";
        let resumed = "7 1.000002 <... openat resumed>) = -1 ENOENT (No such file or directory)";
        for _ in 0..10 {
            assert!(f.admit(unfinished));
            assert!(f.admit(resumed));
        }
        let write = "7 1.000003 openat(AT_FDCWD</w>, \"/x/1\", O_WRONLY|O_CREAT, 0644) = -1 EACCES (Permission denied)";
        // A failed write-open is a failed path lookup like any other…
        assert!(f.admit(write));
        assert!(f.admit(write));
        assert!(!f.admit(write));
        // …a successful one never folds.
        let ok_write =
            "7 1.000004 openat(AT_FDCWD</w>, \"/x/1\", O_WRONLY|O_CREAT, 0644) = 3</x/1>";
        for _ in 0..10 {
            assert!(f.admit(ok_write));
        }
        // Relative paths take their directory from the dirfd annotation; other
        // directories are other keys.
        for d in b'a'..b'k' {
            let d = d as char;
            let l = format!(
                "7 1.000005 openat(AT_FDCWD</dir{d}>, \"pkg.json\", O_RDONLY) = -1 ENOENT (No such file or directory)"
            );
            assert!(f.admit(&l), "{l}");
        }
        // Successful deletions count for mass-deletion and are never folded.
        for i in 0..10 {
            assert!(f.admit(&format!("7 1.1 unlink(\"/home/u/f{i}\") = 0")));
        }
    }

    #[test]
    fn look_alike_reads_do_not_hide_a_credential_read() {
        let mut f = LineFolder::new(3, MAX_KEYS);
        let read = |name: &str| {
            format!("9 2.5 openat(AT_FDCWD</w>, \"/home/u/.ldb/{name}\", O_RDONLY) = 5</home/u/.ldb/{name}>")
        };
        for i in 0..50 {
            assert!(f.admit(&read(&format!("{i:06}.log"))));
        }
        assert!(f.admit(&read("000003.log")), "the 2nd read of this file");
        // The same file read again and again does fold.
        for _ in 0..5 {
            f.admit(&read("000007.log"));
        }
        assert!(!f.admit(&read("000007.log")));
        // Failures of one shape fold whatever the digits.
        let fail = |i: u32| {
            format!("9 2.6 openat(AT_FDCWD</w>, \"/home/u/.ldb/{i:06}.ldb\", O_RDONLY) = -1 ENOENT (No such file or directory)")
        };
        let kept = (0..50).filter(|&i| f.admit(&fail(i))).count();
        assert_eq!(kept, 3);
    }

    #[test]
    fn keys_are_bounded() {
        let mut f = LineFolder::new(1, 10);
        for d in 0..1000u32 {
            let name: String = d
                .to_string()
                .bytes()
                .map(|b| (b - b'0' + b'a') as char)
                .collect();
            f.admit(&format!(
                "7 1.5 access(\"/r/{name}/f\", F_OK) = -1 ENOENT (No such file or directory)"
            ));
        }
        assert!(f.slots.len() <= 11);
        assert!(f.folded().iter().any(|g| g.shape == "/r/<many>"));
    }
}

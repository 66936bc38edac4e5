//! Small text helpers shared by the analyzers: byte offset to line, Shannon entropy.

/// Maps byte offsets of one text to 1-based line numbers.
pub(crate) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(src: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// The text of 1-based line `n` of `src` (the text these lines were made from),
    /// with its newline; empty when out of range.
    pub(crate) fn text<'s>(&self, src: &'s str, n: u32) -> &'s str {
        let i = (n as usize).saturating_sub(1);
        let start = self.starts.get(i).copied().unwrap_or(src.len());
        let end = self.starts.get(i + 1).copied().unwrap_or(src.len());
        src.get(start..end).unwrap_or("")
    }

    /// 1-based line of byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> u32 {
        match self.starts.binary_search(&offset) {
            Ok(i) => i as u32 + 1,
            Err(i) => i as u32,
        }
    }
}

/// Shannon entropy of `bytes` in bits per byte (0 for empty input).
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for b in bytes {
        counts[*b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Rounds to two decimals so values stay readable in traces.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Declares lazily compiled regexes. Patterns are constants, so a compile failure is a
/// bug that the module's `regexes_compile` test catches; at run time a broken pattern
/// simply matches nothing instead of panicking.
macro_rules! regexes {
    ($($name:ident = $pat:expr;)*) => {
        $(
            static $name: std::sync::LazyLock<Option<regex::Regex>> =
                std::sync::LazyLock::new(|| regex::Regex::new($pat).ok());
        )*
        #[cfg(test)]
        fn all_regexes() -> Vec<(&'static str, bool)> {
            vec![$((stringify!($name), $name.is_some())),*]
        }
    };
}
pub(crate) use regexes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_entropy() {
        let l = Lines::new("a\nbb\n\nc");
        assert_eq!(l.line_of(0), 1);
        assert_eq!(l.line_of(2), 2);
        assert_eq!(l.line_of(5), 3);
        assert_eq!(l.line_of(6), 4);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert_eq!(clip("héllo", 2), "h…");
    }
}

//! Load errors that point at the file and line that caused them, printed the way
//! cargo-deny prints config diagnostics (`error[code]: message` then `--> file:line:col`).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found while loading a ruleset. Stable kebab-case `code`s let tests and
/// tools match on the kind of problem without parsing the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error[{code}]: {message}\n  --> {}:{line}:{column}", file.display())]
pub struct RuleError {
    /// `toml-syntax`, `unknown-key`, `bad-field`, `bad-regex`, `unknown-list`, ...
    pub code: &'static str,
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    pub message: String,
}

impl RuleError {
    /// An error at a byte span of `source` (the text of `file`).
    pub fn at(
        code: &'static str,
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> RuleError {
        let (line, column) = match span {
            Some(s) => line_col(source, s.start),
            None => (0, 0),
        };
        RuleError {
            code,
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error about a whole file (I/O, missing file).
    pub fn file(code: &'static str, file: &Path, message: impl Into<String>) -> RuleError {
        RuleError {
            code,
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Several errors printed one after another.
pub struct Diagnostics<'a>(pub &'a [RuleError]);

impl fmt::Display for Diagnostics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = "a = 1\nbb = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, 9), (2, 4));
    }
}

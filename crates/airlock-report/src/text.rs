//! Small text helpers shared by the model and the renderers: cutting strings on character
//! boundaries, quoting argv, replacing canary values, and formatting timestamps without a
//! date-time dependency.

use std::borrow::Cow;

use airlock_events::Canary;

/// Cuts `s` to at most `max` characters, ending with `…` when something was cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// An argv joined for display: arguments with spaces or quotes are single-quoted.
pub(crate) fn join_argv(argv: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if a.is_empty() || a.contains([' ', '\t', '\n', '\'', '"']) {
            out.push('\'');
            out.push_str(&a.replace('\'', "'\\''"));
            out.push('\'');
        } else {
            out.push_str(a);
        }
    }
    out
}

/// The last path component.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Replaces planted canary values with `[canary:<id>]`, so a report never carries them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// (value, id), longest value first so a value containing another wins.
    values: Vec<(String, String)>,
}

/// Values shorter than this are not redacted: they would mangle ordinary text.
const MIN_REDACT_LEN: usize = 6;

impl Redactor {
    pub(crate) fn new(canaries: &[Canary]) -> Redactor {
        let mut values: Vec<(String, String)> = canaries
            .iter()
            .filter(|c| c.value.len() >= MIN_REDACT_LEN)
            .map(|c| (c.value.clone(), c.id.clone()))
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.0.len()));
        Redactor { values }
    }

    pub(crate) fn apply<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for (value, id) in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), &format!("[canary:{id}]")));
            }
        }
        out
    }

    pub(crate) fn own(&self, s: &str) -> String {
        self.apply(s).into_owned()
    }
}

/// Unix seconds as an RFC 3339 UTC timestamp with second precision
/// (`2024-05-01T12:00:00Z`). Times before 1970 or not finite clamp to the epoch.
pub fn rfc3339(unix_secs: f64) -> String {
    let secs = if unix_secs.is_finite() && unix_secs > 0.0 {
        unix_secs.floor() as i64
    } else {
        0
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A duration in milliseconds for humans: `850 ms`, `3.2 s`, `2 min 05 s`.
pub(crate) fn human_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// A byte count for humans.
pub(crate) fn human_bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800.9), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(4_107_542_399.0), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(f64::NAN), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn truncate_counts_chars_not_bytes() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("", 3), "");
    }

    #[test]
    fn argv_quoting() {
        let argv: Vec<String> = ["sh", "-c", "node install.js", "it's", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(join_argv(&argv), r#"sh -c 'node install.js' 'it'\''s' ''"#);
    }

    #[test]
    fn redactor_replaces_longest_first_and_skips_short_values() {
        let c = |id: &str, v: &str| Canary {
            id: id.into(),
            kind: "k".into(),
            location: "env:X".into(),
            value: v.into(),
        };
        let r = Redactor::new(&[
            c("short", "abc"),
            c("tok", "npm_SECRET"),
            c("long", "npm_SECRET_2"),
        ]);
        assert_eq!(
            r.apply("a npm_SECRET_2 b npm_SECRET abc"),
            "a [canary:long] b [canary:tok] abc"
        );
        assert!(matches!(r.apply("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn durations_and_bytes() {
        assert_eq!(human_duration(850), "850 ms");
        assert_eq!(human_duration(3200), "3.2 s");
        assert_eq!(human_duration(125_000), "2 min 05 s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
    }
}

//! Project waivers: an `airlock.toml` next to the project says "this rule is expected
//! for this package version, because …, until …". A waived finding stays in the report,
//! marked, and no longer counts toward the verdict; an expired waiver is ignored with a
//! warning. Problems in the file are reported like rule-load errors, at their line.
//!
//! ```toml
//! [[waiver]]
//! rule = "credential-file-read"
//! package = "dotenv-cli@7.4.2"          # name@version, name@<semver range>, or name@*
//! ecosystem = "npm"                      # optional
//! reason = "loads the project's own .env by design"
//! expires = 2027-06-30                   # a TOML date, or "2027-06-30"
//! ```
//!
//! Version ranges use the `semver` crate's syntax (`>=1.2, <2`, `^1.4`, `~2.0`, `*`); a
//! bare version means exactly that version (not Cargo's caret), and a version that is not
//! semver (PyPI's `2.0`, `1.0.post1`) matches only itself.

use std::path::{Path, PathBuf};

use airlock_events::{Ecosystem, Finding, PackageRef, Waived};
use serde::Deserialize;
use toml::Spanned;

use crate::error::RuleError;

/// The project file that holds waivers.
pub const WAIVER_FILE: &str = "airlock.toml";

/// A calendar day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Today, UTC.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date::from_days((secs / 86_400) as i64)
    }

    /// The civil date of a count of days since 1970-01-01 (H. Hinnant's algorithm).
    pub fn from_days(z: i64) -> Date {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut it = s.trim().splitn(3, '-');
        let year = it.next()?.parse().ok()?;
        let month: u8 = it.next()?.parse().ok()?;
        let day: u8 = it.next()?.parse().ok()?;
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(Date { year, month, day })
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Which versions a waiver covers.
#[derive(Debug, Clone)]
pub enum Versions {
    Exact(String),
    Range(semver::VersionReq),
}

impl Versions {
    fn matches(&self, version: &str) -> bool {
        match self {
            Versions::Exact(v) => v == version,
            Versions::Range(r) => semver::Version::parse(version).is_ok_and(|v| r.matches(&v)),
        }
    }
}

/// One waiver.
#[derive(Debug, Clone)]
pub struct Waiver {
    pub rule: String,
    pub name: String,
    pub versions: Versions,
    pub ecosystem: Option<Ecosystem>,
    pub reason: String,
    pub expires: Date,
    /// 1-based line of the `[[waiver]]` entry.
    pub line: usize,
}

/// The waivers of one project file.
#[derive(Debug, Clone, Default)]
pub struct Waivers {
    pub waivers: Vec<Waiver>,
    pub file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default, rename = "waiver")]
    waivers: Vec<Spanned<WaiverSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverSpec {
    rule: Spanned<String>,
    package: Spanned<String>,
    #[serde(default)]
    ecosystem: Option<Ecosystem>,
    reason: Spanned<String>,
    expires: Spanned<toml::Value>,
}

impl Waivers {
    /// Reads `airlock.toml` (or any file of that shape). Every problem is returned,
    /// each at its line.
    pub fn load(path: &Path) -> Result<Waivers, Vec<RuleError>> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| vec![RuleError::file("io", path, e.to_string())])?;
        Waivers::parse(path, &src)
    }

    /// The project's `airlock.toml`: the first found in `dir` or a parent directory
    /// (`None` when there is none). A file that does not parse is an error, never
    /// silently ignored.
    pub fn discover(dir: &Path) -> Result<Option<Waivers>, Vec<RuleError>> {
        for d in dir.ancestors() {
            let p = d.join(WAIVER_FILE);
            if p.is_file() {
                return Waivers::load(&p).map(Some);
            }
        }
        Ok(None)
    }

    /// Parses the text of a waiver file; `path` names it in errors.
    pub fn parse(path: &Path, src: &str) -> Result<Waivers, Vec<RuleError>> {
        let spec: FileSpec = toml::from_str(src).map_err(|e| {
            let msg = e.message().to_string();
            let code = if msg.contains("unknown field") {
                "unknown-key"
            } else {
                "toml"
            };
            vec![RuleError::at(code, path, src, e.span(), msg)]
        })?;
        let mut errors = Vec::new();
        let mut waivers = Vec::new();
        for w in spec.waivers {
            let line = crate::error::line_col(src, w.span().start).0;
            let w = w.into_inner();
            let mut err = |code, span: std::ops::Range<usize>, msg: String| {
                errors.push(RuleError::at(code, path, src, Some(span), msg))
            };
            if w.rule.get_ref().trim().is_empty() {
                err(
                    "bad-waiver",
                    w.rule.span(),
                    "`rule` names the rule id to waive".into(),
                );
            }
            if w.reason.get_ref().trim().is_empty() {
                err(
                    "bad-waiver",
                    w.reason.span(),
                    "a waiver needs a `reason` a reviewer can check".into(),
                );
            }
            let expires = match w.expires.get_ref() {
                toml::Value::Datetime(d) => d.date.map(|d| Date {
                    year: i32::from(d.year),
                    month: d.month,
                    day: d.day,
                }),
                toml::Value::String(s) => Date::parse(s),
                _ => None,
            };
            let Some(expires) = expires else {
                err(
                    "bad-waiver",
                    w.expires.span(),
                    "`expires` must be a date, e.g. 2027-06-30".into(),
                );
                continue;
            };
            let spec = w.package.get_ref().trim();
            // `@scope/name@1.0.0`: the version follows the last `@` that is not first.
            let split = spec.rfind('@').filter(|i| *i > 0);
            let Some(at) = split else {
                err(
                    "bad-waiver",
                    w.package.span(),
                    format!("`package` must be name@version or name@range, not `{spec}`"),
                );
                continue;
            };
            let (name, version) = (spec[..at].trim(), spec[at + 1..].trim());
            if name.is_empty() || version.is_empty() {
                err(
                    "bad-waiver",
                    w.package.span(),
                    format!("`package` must be name@version or name@range, not `{spec}`"),
                );
                continue;
            }
            let range_chars = |c: char| matches!(c, '<' | '>' | '=' | '^' | '~' | '*' | ',' | ' ');
            let versions = if version.contains(range_chars) {
                match semver::VersionReq::parse(version) {
                    Ok(r) => Versions::Range(r),
                    Err(e) => {
                        err(
                            "bad-waiver",
                            w.package.span(),
                            format!("bad version range `{version}`: {e}"),
                        );
                        continue;
                    }
                }
            } else {
                Versions::Exact(version.to_string())
            };
            waivers.push(Waiver {
                rule: w.rule.into_inner(),
                name: name.to_string(),
                versions,
                ecosystem: w.ecosystem,
                reason: w.reason.into_inner(),
                expires,
                line,
            });
        }
        if errors.is_empty() {
            Ok(Waivers {
                waivers,
                file: path.to_path_buf(),
            })
        } else {
            Err(errors)
        }
    }

    /// The waivers for `package` that have not expired on `today`, and a warning for
    /// each that would apply but has.
    pub fn for_package<'a>(
        &'a self,
        package: &PackageRef,
        today: Date,
    ) -> (Vec<&'a Waiver>, Vec<String>) {
        let mut live = Vec::new();
        let mut warnings = Vec::new();
        for w in &self.waivers {
            let eco_ok = match (w.ecosystem, package.ecosystem) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            if !eco_ok || w.name != package.name || !w.versions.matches(&package.version) {
                continue;
            }
            if w.expires <= today {
                warnings.push(format!(
                    "{}:{}: waiver of {} for {}@{} expired on {}; ignored",
                    self.file.display(),
                    w.line,
                    w.rule,
                    package.name,
                    package.version,
                    w.expires
                ));
                continue;
            }
            live.push(w);
        }
        (live, warnings)
    }

    /// Marks the findings a live waiver covers; returns the warnings of
    /// [`Waivers::for_package`].
    pub fn mark(&self, findings: &mut [Finding], package: &PackageRef, today: Date) -> Vec<String> {
        let (live, warnings) = self.for_package(package, today);
        for f in findings.iter_mut() {
            if let Some(w) = live.iter().find(|w| w.rule == f.rule) {
                f.waived = Some(Waived {
                    reason: w.reason.clone(),
                    expires: w.expires.to_string(),
                    source: format!("{}:{}", self.file.display(), w.line),
                });
            }
        }
        warnings
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> PackageRef {
        PackageRef {
            ecosystem: Some(Ecosystem::Npm),
            name: name.into(),
            version: version.into(),
            ..Default::default()
        }
    }

    const TODAY: Date = Date {
        year: 2026,
        month: 12,
        day: 2,
    };

    #[test]
    fn days_to_dates() {
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_days(20_424).to_string(), "2025-12-02");
        assert_eq!(Date::from_days(11_016).to_string(), "2000-02-29");
    }

    #[test]
    fn exact_ranges_and_expiry() {
        let src = r#"
[[waiver]]
rule = "credential-file-read"
package = "@acme/cli@1.2.3"
reason = "reads its own .env"
expires = 2027-01-01

[[waiver]]
rule = "import-network-contact"
package = "left-pad@>=1.0.0, <2"
reason = "telemetry"
expires = "2026-11-30"
"#;
        let w = Waivers::parse(Path::new("airlock.toml"), src).unwrap();
        assert_eq!(w.waivers.len(), 2);
        let (live, warn) = w.for_package(&pkg("@acme/cli", "1.2.3"), TODAY);
        assert_eq!(live.len(), 1);
        assert!(warn.is_empty());
        assert!(w
            .for_package(&pkg("@acme/cli", "1.2.4"), TODAY)
            .0
            .is_empty());
        let (live, warn) = w.for_package(&pkg("left-pad", "1.4.0"), TODAY);
        assert!(live.is_empty());
        assert_eq!(warn.len(), 1, "{warn:?}");
        assert!(warn[0].contains("expired on 2026-11-30"), "{warn:?}");
        assert!(warn[0].starts_with("airlock.toml:8:"), "{warn:?}");
    }

    #[test]
    fn discovered_in_a_parent_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        assert!(Waivers::discover(&sub).unwrap().is_none());
        std::fs::write(
            dir.path().join(WAIVER_FILE),
            "[[waiver]]\nrule = \"x\"\npackage = \"a@1.0.0\"\nreason = \"r\"\nexpires = 2099-01-01\n",
        )
        .unwrap();
        let w = Waivers::discover(&sub).unwrap().unwrap();
        assert_eq!(w.waivers.len(), 1);
        std::fs::write(dir.path().join(WAIVER_FILE), "[[waiver]]\nrule = 1\n").unwrap();
        let e = Waivers::discover(&sub).unwrap_err();
        assert_eq!(e[0].line, 2, "{}", e[0]);
    }

    #[test]
    fn bad_files_point_at_the_line() {
        let src =
            "[[waiver]]\nrule = \"x\"\npackage = \"nover\"\nreason = \"r\"\nexpires = 2027-01-01\n";
        let e = Waivers::parse(Path::new("airlock.toml"), src).unwrap_err();
        assert_eq!(e[0].code, "bad-waiver");
        assert_eq!(e[0].line, 3);
        let src =
            "[[waiver]]\nrule = \"x\"\npackage = \"a@1\"\nreason = \"r\"\nexpires = \"soon\"\n";
        let e = Waivers::parse(Path::new("airlock.toml"), src).unwrap_err();
        assert_eq!((e[0].code, e[0].line), ("bad-waiver", 5));
        let src = "[[waiver]]\nrule = \"x\"\npackage = \"a@1\"\nreason = \"r\"\nexpires = 2027-01-01\nwhy = 1\n";
        let e = Waivers::parse(Path::new("airlock.toml"), src).unwrap_err();
        assert_eq!(e[0].code, "unknown-key");
        let src = "[[waiver]]\nrule = \"x\"\npackage = \"a@>=1, <\"\nreason = \"r\"\nexpires = 2027-01-01\n";
        let e = Waivers::parse(Path::new("airlock.toml"), src).unwrap_err();
        assert!(e[0].message.contains("bad version range"), "{}", e[0]);
    }
}

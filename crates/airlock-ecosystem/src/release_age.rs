//! The release-age gate (`--min-age 48h`), like pnpm's `minimumReleaseAge` and
//! safe-chain's: a version published more recently than the gate is *pending* — the
//! install wrappers install nothing while one is in the tree, the registry proxy hides it
//! and refuses its tarball. Most malicious releases (stolen-token publishes, worms) are
//! found and pulled within a day or two; waiting that long before taking a new version
//! lets the registry, the community and airlock's own analysis catch up. This module
//! holds the policy — the duration a user writes, the decision for one version and its
//! wording; each ecosystem says when a version was published
//! ([`crate::PackageEcosystem::published`]).

use std::fmt;
use std::str::FromStr;

pub use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// How old a version must be: `48h`, `2d`, `1w`, `90m`, `2 days 12 hours` or ISO 8601
/// (`P2D`, `PT48H`); days are 24 hours. `0` turns the gate off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MinAge(SignedDuration);

/// Why a duration was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MinAgeError(String);

impl MinAge {
    pub fn from_duration(d: SignedDuration) -> MinAge {
        MinAge(d.max(SignedDuration::ZERO))
    }

    pub fn duration(self) -> SignedDuration {
        self.0
    }

    /// `0`: the gate is off.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl FromStr for MinAge {
    type Err = MinAgeError;

    fn from_str(s: &str) -> Result<MinAge, MinAgeError> {
        let s = s.trim();
        if s == "0" {
            return Ok(MinAge(SignedDuration::ZERO));
        }
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(MinAgeError(format!(
                "{s:?} has no unit: write e.g. {s}h, {s}d or {s}m (pnpm's minimumReleaseAge \
                 counts minutes: 1440 is 1440m or 1d)"
            )));
        }
        let span: jiff::Span = s.parse().map_err(|e| {
            MinAgeError(format!(
                "{s:?} is not a duration ({e}); write e.g. 48h, 2d, 1w or 90m"
            ))
        })?;
        let d = span
            .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
            .map_err(|_| {
                MinAgeError(format!(
                    "{s:?}: months and years have no fixed length; write days or weeks (30d)"
                ))
            })?;
        if d.is_negative() {
            return Err(MinAgeError(format!("{s:?} is negative")));
        }
        Ok(MinAge(d))
    }
}

impl fmt::Display for MinAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self.0))
    }
}

/// A duration as people read it, to the two largest units: `2d`, `1d 6h`, `5h 12m`,
/// `45m`, `30s`.
pub fn human(d: SignedDuration) -> String {
    let neg = d.is_negative();
    let s = d.as_secs().unsigned_abs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "m"), (secs, "s")]
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    let text = if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    };
    if neg {
        format!("-{text}")
    } else {
        text
    }
}

/// Parses a registry's publish time (`2024-01-01T00:00:00.000Z`, `…+00:00`), or a date
/// as npm prints its `before` setting (JavaScript's `Date#toString`:
/// `Mon Jan 01 2024 00:00:00 GMT+0000 (Coordinated Universal Time)`).
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse() {
        return Some(t);
    }
    let js = s.split(" (").next().unwrap_or(s);
    jiff::fmt::strtime::parse("%a %b %d %Y %H:%M:%S GMT%z", js)
        .and_then(|t| t.to_timestamp())
        .ok()
}

/// The gate's decision for one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maturity {
    /// Published at least the gate's age ago.
    Mature { published: Timestamp },
    /// Published more recently: pending until `matures`.
    Young {
        published: Timestamp,
        matures: Timestamp,
    },
    /// The registry gives no publish time.
    Unknown,
}

/// The release-age gate as configured, at one instant (every version of one run is
/// judged against the same "now").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseGate {
    pub min_age: MinAge,
    /// A version without a publish time is pending too (otherwise it passes, said).
    pub strict: bool,
    pub now: Timestamp,
}

impl ReleaseGate {
    /// The gate now; `None` when `min_age` is zero (off).
    pub fn new(min_age: MinAge, strict: bool) -> Option<ReleaseGate> {
        (!min_age.is_zero()).then(|| ReleaseGate {
            min_age,
            strict,
            now: Timestamp::now(),
        })
    }

    /// Versions published at or before this instant are old enough (npm's `--before`).
    pub fn cutoff(&self) -> Timestamp {
        self.now
            .checked_sub(self.min_age.0)
            .unwrap_or(Timestamp::MIN)
    }

    pub fn judge(&self, published: Option<Timestamp>) -> Maturity {
        match published {
            None => Maturity::Unknown,
            Some(p) if p <= self.cutoff() => Maturity::Mature { published: p },
            Some(p) => Maturity::Young {
                published: p,
                matures: p.checked_add(self.min_age.0).unwrap_or(Timestamp::MAX),
            },
        }
    }

    /// The decision as the reports carry it.
    pub fn assess(&self, published: Option<Timestamp>) -> ReleaseAge {
        self.describe(self.judge(published))
    }

    /// A decision as the reports carry it.
    pub fn describe(&self, m: Maturity) -> ReleaseAge {
        let ago = |p: Timestamp| human(self.now.duration_since(p));
        match m {
            Maturity::Mature { published } => ReleaseAge {
                status: ReleaseStatus::Mature,
                published: Some(published.to_string()),
                age: Some(ago(published)),
                matures: None,
                message: None,
            },
            Maturity::Young { published, matures } => ReleaseAge {
                status: ReleaseStatus::Pending,
                published: Some(published.to_string()),
                age: Some(ago(published)),
                matures: Some(ceil_secs(matures).to_string()),
                message: Some(format!(
                    "published {} ago ({}), younger than --min-age {}; matures {} (in {})",
                    ago(published),
                    round_secs(published),
                    self.min_age,
                    ceil_secs(matures),
                    human(matures.duration_since(self.now)),
                )),
            },
            Maturity::Unknown => ReleaseAge {
                status: if self.strict {
                    ReleaseStatus::Pending
                } else {
                    ReleaseStatus::Unknown
                },
                published: None,
                age: None,
                matures: None,
                message: Some(if self.strict {
                    "the registry gives no publish time; pending under --min-age-strict".into()
                } else {
                    "the registry gives no publish time; allowed (--min-age-strict would hold it)"
                        .into()
                }),
            },
        }
    }

    /// A lookup that failed: the gate cannot clear the version.
    pub fn failed(&self, why: &str) -> ReleaseAge {
        ReleaseAge {
            status: ReleaseStatus::Error,
            published: None,
            age: None,
            matures: None,
            message: Some(format!("the publish time could not be looked up: {why}")),
        }
    }

    /// Whether the gate holds a version back.
    pub fn holds(&self, m: Maturity) -> bool {
        match m {
            Maturity::Mature { .. } => false,
            Maturity::Young { .. } => true,
            Maturity::Unknown => self.strict,
        }
    }
}

/// A timestamp to the second, for messages.
fn round_secs(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// A timestamp rounded up to the second (when a version matures: never too early).
fn ceil_secs(t: Timestamp) -> Timestamp {
    let up = i64::from(t.subsec_nanosecond() > 0);
    Timestamp::from_second(t.as_second() + up).unwrap_or(t)
}

/// What the gate decided for a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    /// Old enough.
    Mature,
    /// Younger than the gate (or, with `--min-age-strict`, of unknown age): not installed.
    Pending,
    /// No publish time; allowed.
    Unknown,
    /// The lookup failed: nothing can be cleared.
    Error,
}

/// The gate's decision for one version, as reports and JSON carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseAge {
    pub status: ReleaseStatus,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// How long ago (`1d 6h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
    /// When a pending version is old enough (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matures: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ReleaseAge {
    pub fn pending(&self) -> bool {
        self.status == ReleaseStatus::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn age(s: &str) -> SignedDuration {
        s.parse::<MinAge>().unwrap().duration()
    }

    #[test]
    fn durations_people_write() {
        assert_eq!(age("48h"), SignedDuration::from_hours(48));
        assert_eq!(age("2d"), SignedDuration::from_hours(48));
        assert_eq!(age(" 2 days "), SignedDuration::from_hours(48));
        assert_eq!(age("1w"), SignedDuration::from_hours(168));
        assert_eq!(age("90m"), SignedDuration::from_mins(90));
        assert_eq!(age("1d 12h"), SignedDuration::from_hours(36));
        assert_eq!(age("P2D"), SignedDuration::from_hours(48));
        assert_eq!(age("PT48H"), SignedDuration::from_hours(48));
        assert!("0".parse::<MinAge>().unwrap().is_zero());
        assert!("0s".parse::<MinAge>().unwrap().is_zero());
        for bad in ["", "48", "1440", "soon", "-2d", "1mo", "1y"] {
            assert!(bad.parse::<MinAge>().is_err(), "{bad:?} was accepted");
        }
        let e = "1440".parse::<MinAge>().unwrap_err().to_string();
        assert!(e.contains("1440m"), "{e}");
        assert_eq!("48h".parse::<MinAge>().unwrap().to_string(), "2d");
        assert_eq!("36h".parse::<MinAge>().unwrap().to_string(), "1d 12h");
        assert_eq!("90m".parse::<MinAge>().unwrap().to_string(), "1h 30m");
    }

    #[test]
    fn human_keeps_two_units() {
        assert_eq!(human(SignedDuration::from_secs(0)), "0s");
        assert_eq!(human(SignedDuration::from_secs(45)), "45s");
        assert_eq!(
            human(SignedDuration::from_secs(86_400 + 3_600 + 61)),
            "1d 1h"
        );
        assert_eq!(human(SignedDuration::from_secs(86_400 + 61)), "1d");
        assert_eq!(
            human(SignedDuration::from_secs(5 * 3600 + 12 * 60)),
            "5h 12m"
        );
        assert_eq!(human(SignedDuration::from_secs(-90)), "-1m 30s");
    }

    #[test]
    fn registry_times_parse() {
        for t in [
            "2024-01-01T00:00:00.000Z",
            "2024-12-04T23:03:58.786000+00:00",
            "2021-05-05T14:18:18.379524Z",
        ] {
            assert!(parse_time(t).is_some(), "{t}");
        }
        assert_eq!(
            parse_time("Mon Jan 01 2024 01:00:00 GMT+0100 (Central European Standard Time)")
                .map(|t| t.to_string()),
            Some("2024-01-01T00:00:00Z".into())
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-01-01"), None);
    }

    fn gate(min_age: &str, strict: bool) -> ReleaseGate {
        ReleaseGate {
            min_age: min_age.parse().unwrap(),
            strict,
            now: "2026-12-02T12:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_decision() {
        let g = gate("2d", false);
        assert_eq!(g.cutoff().to_string(), "2026-11-30T12:00:00Z");
        let t = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        // Exactly as old as the gate: mature (npm's --before is "on or before").
        assert!(matches!(
            g.judge(t("2026-11-30T12:00:00Z")),
            Maturity::Mature { .. }
        ));
        let young = g.judge(t("2026-12-02T07:00:00Z"));
        assert_eq!(
            young,
            Maturity::Young {
                published: "2026-12-02T07:00:00Z".parse().unwrap(),
                matures: "2026-12-04T07:00:00Z".parse().unwrap(),
            }
        );
        assert!(g.holds(young));
        let a = g.describe(young);
        assert!(a.pending());
        assert_eq!(a.age.as_deref(), Some("5h"));
        assert_eq!(a.matures.as_deref(), Some("2026-12-04T07:00:00Z"));
        let msg = a.message.unwrap();
        assert!(msg.contains("published 5h ago"), "{msg}");
        assert!(msg.contains("--min-age 2d"), "{msg}");
        assert!(msg.contains("in 1d 19h"), "{msg}");
        // A publish time in the future (clock skew) is young, not mature.
        assert!(g.holds(g.judge(t("2026-12-03T00:00:00Z"))));
        // Unknown: allowed unless strict.
        assert!(!g.holds(Maturity::Unknown));
        assert_eq!(g.assess(None).status, ReleaseStatus::Unknown);
        let s = gate("2d", true);
        assert!(s.holds(Maturity::Unknown));
        assert!(s.assess(None).pending());
        // When a version matures is said to the second, rounded up.
        let a = g.assess(t("2026-12-02T07:00:00.25Z"));
        assert_eq!(a.matures.as_deref(), Some("2026-12-04T07:00:01Z"));
        assert!(ReleaseGate::new("0".parse().unwrap(), true).is_none());
    }
}

//! The release-age gate in the wrappers and `airlock approve` (`--min-age 48h`): every
//! version of the resolved tree is looked up in its registry (through the ecosystem
//! seam, `PackageEcosystem::published`) and one published more recently than the gate
//! is *pending* — nothing installs, the report names it with its age and when it
//! matures. The policy itself (durations, the decision, the wording) is
//! `airlock_ecosystem::release_age`; this file holds the flags and the lookups.

use std::collections::BTreeMap;

use airlock_ecosystem::release_age::{MinAge, ReleaseAge, ReleaseGate};
use airlock_ecosystem::Sources;

use super::Candidate;

/// The gate's flags (the wrappers, `approve` and `serve` share them).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReleaseAgeArgs {
    /// Release-age gate: versions published more recently than this are pending — not
    /// installed (wrappers), hidden and refused (the proxy), left undecided (approve).
    /// `48h`, `2d`, `1w`, `90m`; like pnpm's minimumReleaseAge. Off by default.
    #[arg(long, env = "AIRLOCK_MIN_AGE", value_name = "DURATION")]
    pub min_age: Option<MinAge>,
    /// With --min-age: a version whose registry gives no publish time is pending too
    /// (without it such a version passes, with a note).
    #[arg(long, env = "AIRLOCK_MIN_AGE_STRICT",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub min_age_strict: bool,
}

impl ReleaseAgeArgs {
    /// The gate as of now, when one is set.
    pub fn gate(&self) -> Option<ReleaseGate> {
        ReleaseGate::new(self.min_age?, self.min_age_strict)
    }
}

/// How many registries are asked at once.
const LOOKUPS_AT_ONCE: usize = 8;

/// The gate's decision for every candidate (in order; `None` for one not from a
/// registry, which no registry dates). Versions of one name are looked up by one thread,
/// one after another, so each packument is fetched once; a failed lookup is an `error`
/// decision (the gate cannot clear that version).
pub async fn assess(
    gate: &ReleaseGate,
    cands: &[Candidate],
    sources: &Sources,
) -> anyhow::Result<Vec<Option<ReleaseAge>>> {
    let mut by_name: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, c) in cands.iter().enumerate() {
        if c.unanalyzable.is_some() {
            continue;
        }
        by_name
            .entry((c.ecosystem.to_string(), c.name.clone()))
            .or_default()
            .push(i);
    }
    let groups: Vec<Vec<(usize, Candidate)>> = by_name
        .into_values()
        .map(|is| is.into_iter().map(|i| (i, cands[i].clone())).collect())
        .collect();
    let (gate, sources) = (*gate, sources.clone());
    let n = cands.len();
    let found = tokio::task::spawn_blocking(move || {
        let threads = LOOKUPS_AT_ONCE.min(groups.len()).max(1);
        let chunk = groups.len().div_ceil(threads).max(1);
        let mut out: Vec<Option<ReleaseAge>> = vec![None; n];
        std::thread::scope(|sc| {
            let handles: Vec<_> = groups
                .chunks(chunk)
                .map(|batch| {
                    let sources = &sources;
                    sc.spawn(move || {
                        let mut got = Vec::new();
                        for (i, c) in batch.iter().flatten() {
                            got.push((*i, lookup(&gate, c, sources)));
                        }
                        got
                    })
                })
                .collect();
            for h in handles {
                if let Ok(got) = h.join() {
                    for (i, a) in got {
                        out[i] = Some(a);
                    }
                }
            }
        });
        out
    })
    .await?;
    Ok(found
        .into_iter()
        .zip(cands)
        .map(|(a, c)| match a {
            Some(a) => Some(a),
            None if c.unanalyzable.is_some() => None,
            None => Some(gate.failed("the lookup stopped")),
        })
        .collect())
}

/// One candidate's decision: from its own registry when the resolution named one.
fn lookup(gate: &ReleaseGate, c: &Candidate, sources: &Sources) -> ReleaseAge {
    let mut sources = sources.clone();
    if let Some(r) = &c.registry {
        sources.npm_registry = r.clone();
    }
    let eco = airlock_ecosystem::by_id(c.ecosystem);
    match eco.published(&c.name, &c.version, c.hash.as_deref(), &sources) {
        Ok(t) => gate.assess(t),
        Err(e) => gate.failed(&e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use airlock_ecosystem::release_age::{ReleaseGate, ReleaseStatus, Timestamp};
    use airlock_ecosystem::Input;
    use airlock_events::{Ecosystem, Verdict};
    use clap::Parser;

    use super::super::{decide, Checked, Decision, From, WrapOptions};
    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: WrapOptions,
    }

    fn opts(args: &[&str]) -> WrapOptions {
        let mut argv = vec!["airlock", "--json"];
        argv.extend(args);
        Cli::try_parse_from(argv).unwrap().opts
    }

    fn checked(name: &str, verdict: Verdict, release: Option<ReleaseAge>) -> Checked {
        let c = Candidate {
            ecosystem: Ecosystem::Npm,
            name: name.into(),
            version: "1.0.0".into(),
            hash: None,
            input: Input::Npm {
                name: name.into(),
                version: "1.0.0".into(),
            },
            registry: None,
            path: vec!["app".into(), name.into()],
            unanalyzable: None,
            fetch_url: None,
        };
        let mut ch = Checked::new(&c, verdict, From::Cache);
        ch.release = release;
        ch
    }

    #[test]
    fn flags_parse_and_make_the_gate() {
        let o = opts(&["--min-age", "2d", "--min-age-strict"]);
        let g = o.release_age.gate().unwrap();
        assert_eq!(g.min_age.to_string(), "2d");
        assert!(g.strict);
        assert!(opts(&[]).release_age.gate().is_none());
        assert!(opts(&["--min-age", "0"]).release_age.gate().is_none());
        // The environment, as CI sets it (only this test sets the strict variable).
        std::env::set_var("AIRLOCK_MIN_AGE_STRICT", "1");
        let strict = opts(&["--min-age", "48h"])
            .release_age
            .gate()
            .unwrap()
            .strict;
        std::env::remove_var("AIRLOCK_MIN_AGE_STRICT");
        assert!(strict);
        let mut argv = vec!["airlock", "--min-age", "48"];
        assert!(Cli::try_parse_from(&argv).is_err());
        argv[2] = "soon";
        assert!(Cli::try_parse_from(&argv).is_err());
    }

    #[test]
    fn pending_holds_the_install_after_malice_and_errors() {
        let o = opts(&["--min-age", "2d"]);
        let gate = ReleaseGate {
            min_age: "2d".parse().unwrap(),
            strict: false,
            now: "2026-12-02T12:00:00Z".parse().unwrap(),
        };
        let t = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        let young = || Some(gate.assess(t("2026-12-02T07:00:00Z")));
        let old = || Some(gate.assess(t("2020-01-01T00:00:00Z")));
        // Young and benign: pending (exit 1 in the wrappers), with the reason.
        let tree = [
            checked("a", Verdict::Benign, old()),
            checked("b", Verdict::Benign, young()),
        ];
        assert_eq!(decide(&o, &tree, 0), Decision::Pending);
        let hold = tree[1].gate_hold().unwrap();
        assert!(hold.contains("published 5h ago"), "{hold}");
        assert!(tree[0].gate_hold().is_none());
        // Nothing young: clean.
        let tree = [checked("a", Verdict::Benign, old())];
        assert_eq!(decide(&o, &tree, 0), Decision::Clean);
        // Malicious anywhere: refused, whatever the ages (and approve denies it).
        let tree = [
            checked("a", Verdict::Malicious, young()),
            checked("b", Verdict::Benign, young()),
        ];
        assert_eq!(decide(&o, &tree, 0), Decision::Refused);
        assert!(tree[0].gate_hold().is_none());
        // A failed lookup cannot be cleared: an error, before pending.
        let tree = [
            checked(
                "a",
                Verdict::Benign,
                Some(gate.failed("connection refused")),
            ),
            checked("b", Verdict::Benign, young()),
        ];
        assert_eq!(decide(&o, &tree, 0), Decision::Error);
        // Suspicious and young: pending, no question asked (nothing installs anyway).
        let tree = [checked("a", Verdict::Suspicious, young())];
        assert_eq!(decide(&o, &tree, 0), Decision::Pending);
        // No publish time: allowed, unless strict.
        let unknown = gate.assess(None);
        assert_eq!(unknown.status, ReleaseStatus::Unknown);
        let tree = [checked("a", Verdict::Benign, Some(unknown))];
        assert_eq!(decide(&o, &tree, 0), Decision::Clean);
        let strict = ReleaseGate {
            strict: true,
            ..gate
        };
        let tree = [checked("a", Verdict::Benign, Some(strict.assess(None)))];
        assert_eq!(decide(&o, &tree, 0), Decision::Pending);
        // The JSON summary marks it.
        let j = serde_json::to_value(&tree[0]).unwrap();
        assert_eq!(j["release"]["status"], "pending", "{j:#}");
    }
}

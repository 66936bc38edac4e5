//! Runs every fixture stored with the rules in `rules/` and checks that each rule has at
//! least one must-match and one must-not-match fixture.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use airlock_rules::fixtures::parse_fixture;
use airlock_rules::{Diagnostics, FixtureExpect, Ruleset};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn load() -> Ruleset {
    match Ruleset::load_dir(&rules_dir()) {
        Ok(r) => r,
        Err(e) => panic!("rules/ does not load:\n{}", Diagnostics(&e)),
    }
}

#[test]
fn every_fixture_gives_its_expected_result() {
    let rules = load();
    let mut failures = Vec::new();
    let mut ran = 0;
    for rule in rules.rules() {
        for fx in &rule.fixtures {
            ran += 1;
            let (header, records) = match parse_fixture(fx.header.as_deref(), &fx.events) {
                Ok(x) => x,
                Err(e) => {
                    failures.push(format!("{} / {}: bad fixture: {e}", rule.id, fx.name));
                    continue;
                }
            };
            let j = rules.judge(&header, records);
            let hits: Vec<_> = j.findings.iter().filter(|f| f.rule == rule.id).collect();
            let ok = match fx.expect {
                FixtureExpect::Match => !hits.is_empty(),
                FixtureExpect::Nomatch => hits.is_empty(),
            };
            if !ok {
                failures.push(format!(
                    "{} / {} ({:?}): findings of this rule: {:#?}",
                    rule.id, fx.name, fx.expect, hits
                ));
            }
            if fx.expect == FixtureExpect::Match {
                for f in &hits {
                    if f.evidence.is_empty() || f.message.contains("(none)") {
                        failures.push(format!(
                            "{} / {}: finding lacks evidence or a field: {}",
                            rule.id, fx.name, f.message
                        ));
                    }
                }
            }
        }
    }
    assert!(ran > 0);
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_has_match_and_nomatch_fixtures() {
    let rules = load();
    let mut missing = Vec::new();
    for rule in rules.rules() {
        for want in [FixtureExpect::Match, FixtureExpect::Nomatch] {
            if !rule.fixtures.iter().any(|f| f.expect == want) {
                missing.push(format!(
                    "{} ({}) has no {:?} fixture",
                    rule.id,
                    rule.file.display(),
                    want
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The verdict model needs every rule to say whether it proves harm or hints at it, and
/// every proof rule to show that the same act by airlock's own harness (or the toolchain
/// on its own) does not count (static proofs are about the package's files and have no
/// other actor).
#[test]
fn every_rule_declares_its_kind_and_proofs_exclude_the_harness() {
    let rules = load();
    let mut missing = Vec::new();
    for rule in rules.rules() {
        if !rule.kind_declared {
            missing.push(format!(
                "{} ({}) does not declare kind = \"proof\" | \"signal\"",
                rule.id,
                rule.file.display()
            ));
        }
        let other_actor = |f: &&airlock_rules::Fixture| {
            f.expect == FixtureExpect::Nomatch
                && (f.name.starts_with("harness:") || f.name.starts_with("toolchain:"))
        };
        if rule.kind == airlock_events::FindingKind::Proof
            && rule.scope != airlock_rules::Scope::Static
            && !rule.fixtures.iter().any(|f| other_actor(&f))
        {
            missing.push(format!(
                "{} ({}) is a proof without a `harness:` or `toolchain:` nomatch fixture",
                rule.id,
                rule.file.display()
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

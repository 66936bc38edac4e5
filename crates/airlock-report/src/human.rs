//! The terminal report: verdict first, then what proves it, then what the package did.
//! Fits 100 columns, uses ANSI colour only when asked (the caller knows whether stdout is
//! a terminal), and neutralises control characters from the trace so a package cannot
//! drive the reader's terminal.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use airlock_events::{FsChangeKind, Severity, Verdict};

use crate::model::{PhaseState, ProcessNode, ProcessTree, Report};
use crate::text::{human_bytes, human_duration, truncate};

/// Width the report is laid out for.
pub const WIDTH: usize = 100;
/// Evidence lines shown per finding.
const EVIDENCE_SHOWN: usize = 5;
/// Lines of the process tree shown.
const TREE_LINES: usize = 40;
/// Levels of the process tree shown.
const MAX_DEPTH: usize = 12;
/// Items shown per network or file list.
const LIST_SHOWN: usize = 20;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn verdict(&self, v: Verdict, s: &str) -> String {
        let code = match v {
            Verdict::Malicious => "1;97;41",
            Verdict::Suspicious => "1;30;43",
            Verdict::Benign => "1;97;42",
            Verdict::Error | Verdict::TimedOut => "1;97;45",
            Verdict::NotEvaluated => "1;7",
        };
        self.paint(code, s)
    }
    fn severity(&self, sev: Severity, s: &str) -> String {
        let code = match sev {
            Severity::Critical => "1;91",
            Severity::High => "91",
            Severity::Medium => "93",
            Severity::Low => "96",
            Severity::Info => "2",
        };
        self.paint(code, s)
    }
}

/// Makes text from a package safe to print on a terminal: control characters (C0, DEL,
/// C1, ESC among them) become `\xNN`, and the bidirectional and invisible formatting
/// characters that reorder or hide text (U+061C, U+200B–U+200F, U+202A–U+202E,
/// U+2066–U+2069, U+FEFF) become `\u{…}`. Every text airlock prints that a package chose
/// (names, versions, messages, paths) goes through here: the human report, and the
/// binary's error and progress lines (exported as `airlock_report::neutralise`).
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else if matches!(c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' | '\u{feff}')
        {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Cleaned and cut to fit `width` columns, keeping the end (for process chains, whose
/// last element is the process that acted).
fn fit_tail(s: &str, width: usize) -> String {
    let s = clean(s);
    let n = s.chars().count();
    let width = width.max(8);
    if n <= width {
        return s;
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

/// Cleaned and cut to fit `width` columns.
fn fit(s: &str, width: usize) -> String {
    truncate(&clean(s), width.max(8))
}

/// Renders the terminal report; `color` turns on ANSI colour.
pub fn render_human(report: &Report, color: bool) -> String {
    let st = Style { color };
    let mut o = String::new();
    verdict_box(&mut o, report, &st);
    findings(&mut o, report, &st);
    phases(&mut o, report, &st);
    processes(&mut o, report, &st);
    notable(&mut o, report, &st);
    network(&mut o, report, &st);
    files(&mut o, report, &st);
    canaries(&mut o, report, &st);
    footer(&mut o, report, &st);
    o
}

fn verdict_box(o: &mut String, r: &Report, st: &Style) {
    let label = format!(" {} ", r.verdict.as_str().to_uppercase().replace('-', " "));
    let eco = r
        .package
        .ecosystem
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    let findings = match r.findings.len() {
        1 => "1 finding".to_string(),
        n => format!("{n} findings"),
    };
    let right = fit(&format!("score {} · {findings}", fmt_score(r.score)), 40);
    let inner = WIDTH - 4;
    let room = inner - label.chars().count() - 2 - right.chars().count() - 1;
    let pkg = fit(&format!("{}{eco}", r.package.spec()), room);
    let used = label.chars().count() + 2 + pkg.chars().count() + right.chars().count();
    let pad = inner.saturating_sub(used).max(1);
    let _ = writeln!(o, "╭{}╮", "─".repeat(WIDTH - 2));
    let _ = writeln!(
        o,
        "│ {}  {}{}{} │",
        st.verdict(r.verdict, &label),
        st.bold(&pkg),
        " ".repeat(pad),
        right
    );
    let mut facts = Vec::new();
    if let Some(sha) = &r.package.sha256 {
        facts.push(format!("sha256 {}", truncate(sha, 17)));
    }
    if let Some(rs) = &r.ruleset {
        facts.push(format!("ruleset {}", truncate(rs, 13)));
    }
    facts.push(format!("run {}", r.run.id));
    if let Some(d) = r.run.duration_ms {
        facts.push(human_duration(d));
    }
    let facts = fit(&facts.join(" · "), inner);
    let pad = inner.saturating_sub(facts.chars().count());
    let _ = writeln!(o, "│ {}{} │", st.dim(&facts), " ".repeat(pad));
    let _ = writeln!(o, "╰{}╯", "─".repeat(WIDTH - 2));
    if !r.verdict_reason.is_empty() {
        for (i, line) in wrap(&clean(&r.verdict_reason), WIDTH - 7)
            .into_iter()
            .enumerate()
        {
            let head = if i == 0 { "why: " } else { "     " };
            let _ = writeln!(o, "{}{line}", st.bold(head));
        }
    }
    if let Some(e) = &r.error {
        let _ = writeln!(
            o,
            "{} {}",
            st.verdict(Verdict::Error, " ERROR "),
            fit(e, WIDTH - 8)
        );
    }
    if !r.trace_complete {
        let _ = writeln!(
            o,
            "{}",
            st.bold("! the trace is incomplete; absence of evidence proves little")
        );
    }
    if r.verdict == Verdict::NotEvaluated {
        let _ = writeln!(o, "{}", st.dim("no rules were run on this trace"));
    }
}

fn fmt_score(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

fn heading(o: &mut String, st: &Style, title: &str) {
    let _ = writeln!(o);
    let _ = writeln!(o, "{}", st.bold(title));
}

fn findings(o: &mut String, r: &Report, st: &Style) {
    if r.findings.is_empty() {
        if matches!(
            r.verdict,
            Verdict::Benign | Verdict::Suspicious | Verdict::Malicious
        ) {
            heading(o, st, "Findings");
            let _ = writeln!(o, "  none");
        }
        return;
    }
    heading(o, st, &format!("Findings ({})", r.findings.len()));
    for f in &r.findings {
        let sev = format!("{:<8}", f.severity.to_string().to_uppercase());
        let mut flags = vec![format!("{:?} confidence", f.confidence).to_lowercase()];
        let kind = match (f.kind, f.strength) {
            (airlock_events::FindingKind::Proof, _) => "proof".to_string(),
            (_, st) => {
                let strength = match st {
                    airlock_events::Strength::Normal => String::new(),
                    s => format!("{} ", s.as_str()),
                };
                let family = if f.family.is_empty() {
                    String::new()
                } else {
                    format!(": {}", f.family)
                };
                format!("{strength}signal{family}")
            }
        };
        flags.insert(0, kind);
        if let Some(a) = f.actor {
            if a != airlock_events::Actor::Package {
                flags.insert(1, format!("by {a}"));
            }
        }
        if f.decisive {
            flags.insert(0, "decisive".into());
        }
        if f.waived.is_some() {
            flags.insert(0, "WAIVED".into());
        }
        let _ = writeln!(
            o,
            "  {} {}  {}",
            st.severity(f.severity, &sev),
            st.bold(&fit(&f.rule, 50)),
            st.dim(&flags.join(" · "))
        );
        for line in wrap(&clean(&f.message), WIDTH - 4) {
            let _ = writeln!(o, "    {line}");
        }
        if f.items.len() > 1 {
            let _ = writeln!(o, "    {} matches:", f.items.len());
            for item in &f.items {
                let _ = writeln!(o, "    · {}", fit(item, WIDTH - 6));
            }
        }
        if let Some(w) = &f.waived {
            let _ = writeln!(
                o,
                "    {}",
                st.dim(&fit(
                    &format!("waived until {} ({}): {}", w.expires, w.source, w.reason),
                    WIDTH - 4
                ))
            );
        }
        if !f.tags.is_empty() {
            let _ = writeln!(
                o,
                "    {}",
                st.dim(&fit(&format!("tags: {}", f.tags.join(", ")), WIDTH - 4))
            );
        }
        for e in f.evidence.iter().take(EVIDENCE_SHOWN) {
            let head = format!("#{} {} {}", e.seq, e.phase, e.event_type);
            let _ = writeln!(
                o,
                "    {} {}",
                st.dim(&head),
                fit(&e.summary, WIDTH.saturating_sub(6 + head.chars().count()))
            );
            if let Some(chain) = e.chain() {
                let _ = writeln!(o, "      {}", st.dim(&fit_tail(&chain, WIDTH - 6)));
            }
        }
        if f.evidence.len() > EVIDENCE_SHOWN {
            let _ = writeln!(
                o,
                "    … {} more evidence events",
                f.evidence.len() - EVIDENCE_SHOWN
            );
        }
    }
}

/// Greedy word wrap of one paragraph (already cleaned).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let word = truncate(word, width);
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn phases(o: &mut String, r: &Report, st: &Style) {
    heading(o, st, "Phases");
    if r.phases.is_empty() {
        let _ = writeln!(o, "  no phase ran");
        return;
    }
    let _ = writeln!(
        o,
        "  {}",
        st.dim(&format!(
            "{:<12} {:<11} {:>5}  {:>12}",
            "phase", "status", "exit", "duration"
        ))
    );
    for p in &r.phases {
        let status = format!("{:<11}", p.status.as_str());
        let status = match p.status {
            PhaseState::Ok => status,
            PhaseState::Skipped => st.dim(&status),
            _ => st.paint("1;91", &status),
        };
        let exit = p
            .exit_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into());
        let dur = p
            .duration_ms
            .map(human_duration)
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            o,
            "  {:<12} {status} {exit:>5}  {dur:>12}",
            fit(&p.name, 12)
        );
        if p.status != PhaseState::Ok && !p.output_tail.is_empty() {
            let tail: Vec<&str> = p
                .output_tail
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            for l in tail.iter().skip(tail.len().saturating_sub(3)) {
                let _ = writeln!(o, "    {}", st.dim(&fit(l, WIDTH - 6)));
            }
        }
    }
}

fn processes(o: &mut String, r: &Report, st: &Style) {
    let t = &r.processes;
    if t.nodes.is_empty() {
        return;
    }
    heading(o, st, &format!("Processes ({})", t.total));
    let mut lines = Vec::new();
    let mut seen = BTreeSet::new();
    for root in t.roots() {
        tree_lines(t, root, "", "", &mut seen, &mut lines);
    }
    let shown = lines.len().min(TREE_LINES);
    for (prefix, n) in lines.iter().take(shown) {
        let mut tail = String::new();
        if let Some(l) = &n.lifecycle {
            tail.push_str(&format!(" [{l}]"));
        }
        match (&n.signal, n.exit_code) {
            (Some(s), _) => tail.push_str(&format!(" killed by {s}")),
            (None, Some(c)) if c != 0 => tail.push_str(&format!(" exit {c}")),
            _ => {}
        }
        let head = format!("{prefix}{} ", n.pid);
        let room = WIDTH.saturating_sub(2 + head.chars().count() + tail.chars().count());
        let cmd = if n.argv.is_empty() {
            n.exe.as_str()
        } else {
            n.argv.as_str()
        };
        let _ = writeln!(
            o,
            "  {}{}{}",
            st.dim(&head),
            fit(cmd, room),
            st.dim(&clean(&tail))
        );
    }
    let hidden = (t.total).saturating_sub(shown as u64);
    if hidden > 0 {
        let _ = writeln!(o, "  … {hidden} more processes");
    }
}

/// Depth-first lines of the tree with box-drawing prefixes; `seen` guards against cycles
/// (pid reuse can make a process look like its own ancestor).
fn tree_lines<'t>(
    t: &'t ProcessTree,
    n: &'t ProcessNode,
    prefix: &str,
    child_prefix: &str,
    seen: &mut BTreeSet<u32>,
    out: &mut Vec<(String, &'t ProcessNode)>,
) {
    if !seen.insert(n.pid) {
        return;
    }
    out.push((prefix.to_string(), n));
    if child_prefix.chars().count() >= MAX_DEPTH * 3 {
        // Deeper processes are counted by the caller as not shown.
        return;
    }
    let kids: Vec<&ProcessNode> = n
        .children
        .iter()
        .filter(|c| !seen.contains(c))
        .filter_map(|&c| t.node(c))
        .collect();
    for (i, k) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        let p = format!("{child_prefix}{}", if last { "└─ " } else { "├─ " });
        let cp = format!("{child_prefix}{}", if last { "   " } else { "│  " });
        tree_lines(t, k, &p, &cp, seen, out);
    }
}

fn notable(o: &mut String, r: &Report, st: &Style) {
    if r.notable_commands.is_empty() {
        return;
    }
    heading(o, st, "Commands run by install scripts and imports");
    for c in r.notable_commands.iter().take(LIST_SHOWN) {
        let origin = c.lifecycle.as_deref().unwrap_or(&c.phase);
        let times = if c.count > 1 {
            format!(" ×{}", c.count)
        } else {
            String::new()
        };
        let head = format!("{origin:<12}");
        let _ = writeln!(
            o,
            "  {} {}{}",
            st.dim(&fit(&head, 14)),
            fit(&c.command, WIDTH - 20 - times.len()),
            times
        );
    }
    if r.notable_commands.len() > LIST_SHOWN {
        let _ = writeln!(o, "  … {} more", r.notable_commands.len() - LIST_SHOWN);
    }
}

fn network(o: &mut String, r: &Report, st: &Style) {
    let n = &r.network;
    if n.dns.is_empty()
        && n.connections.is_empty()
        && n.connect_attempts.is_empty()
        && n.http.is_empty()
        && n.tls.is_empty()
        && n.raw.is_empty()
    {
        return;
    }
    heading(o, st, "Network");
    let mut lines: Vec<(&str, String)> = Vec::new();
    for d in &n.dns {
        let ans = if d.answers.is_empty() {
            String::new()
        } else {
            format!(" → {}", d.answers.join(", "))
        };
        let times = if d.count > 1 {
            format!(" ×{}", d.count)
        } else {
            String::new()
        };
        lines.push(("DNS", format!("{} {}{ans}{times}", d.qtype, d.name)));
    }
    for c in &n.connections {
        let name = c
            .name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        lines.push((
            "conn",
            format!(
                "{}:{}{name} {}, {} sent",
                c.addr,
                c.port,
                c.protocol,
                human_bytes(c.bytes_sent)
            ),
        ));
    }
    if n.connections.is_empty() {
        for a in &n.connect_attempts {
            let name = a
                .name
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            let by = a
                .process
                .as_ref()
                .map(|p| format!(" by {p}"))
                .unwrap_or_default();
            lines.push((
                "connect",
                format!("{}:{}{name} {}{by}", a.addr, a.port, a.outcome),
            ));
        }
    }
    for t in &n.tls {
        let state = if t.ok {
            String::new()
        } else {
            format!(" failed {}", t.error.as_deref().unwrap_or(""))
        };
        lines.push((
            "TLS",
            format!("{}{state}", t.sni.as_deref().unwrap_or("(no SNI)")),
        ));
    }
    for h in &n.http {
        lines.push((
            "HTTP",
            format!(
                "{} {} → {} ({})",
                h.method,
                h.url,
                h.status,
                human_bytes(h.body_bytes)
            ),
        ));
    }
    for d in &n.raw {
        lines.push((
            "raw",
            format!(
                "{}:{} {}: {}",
                d.addr,
                d.port,
                human_bytes(d.bytes),
                d.preview
            ),
        ));
    }
    let total = lines.len();
    for (kind, text) in lines.into_iter().take(LIST_SHOWN * 2) {
        let _ = writeln!(
            o,
            "  {} {}",
            st.dim(&format!("{kind:<8}")),
            fit(&text, WIDTH - 11)
        );
    }
    if total > LIST_SHOWN * 2 {
        let _ = writeln!(o, "  … {} more", total - LIST_SHOWN * 2);
    }
}

fn files(o: &mut String, r: &Report, st: &Style) {
    let f = &r.files.written_outside_package;
    if f.is_empty() {
        return;
    }
    heading(
        o,
        st,
        &format!("Files changed outside the package ({})", f.len()),
    );
    for c in f.iter().take(LIST_SHOWN) {
        let change = match c.change {
            FsChangeKind::Added => "added",
            FsChangeKind::Modified => "modified",
            FsChangeKind::Deleted => "deleted",
        };
        let mut meta = Vec::new();
        if let Some(s) = c.size {
            meta.push(human_bytes(s));
        }
        if let Some(h) = &c.sha256 {
            meta.push(format!("sha256 {}", truncate(h, 13)));
        }
        let meta = if meta.is_empty() {
            String::new()
        } else {
            format!("  ({})", meta.join(", "))
        };
        let _ = writeln!(
            o,
            "  {} {}{}",
            st.dim(&format!("{change:<9}")),
            fit(&c.path, WIDTH.saturating_sub(13 + meta.chars().count())),
            st.dim(&meta)
        );
    }
    if f.len() > LIST_SHOWN {
        let _ = writeln!(o, "  … {} more", f.len() - LIST_SHOWN);
    }
}

fn canaries(o: &mut String, r: &Report, st: &Style) {
    let c = &r.canaries;
    if c.planted.is_empty() && c.leaked.is_empty() && c.read.is_empty() {
        return;
    }
    heading(o, st, "Canaries");
    if !c.planted.is_empty() {
        let ids: Vec<&str> = c.planted.iter().map(|p| p.id.as_str()).collect();
        let _ = writeln!(
            o,
            "  {}",
            st.dim(&fit(
                &format!("planted {}: {}", ids.len(), ids.join(", ")),
                WIDTH - 2
            ))
        );
    }
    for l in &c.leaked {
        let _ = writeln!(
            o,
            "  {} {} ({}) → {}",
            st.paint("1;91", "LEAKED"),
            fit(&l.canary_id, 30),
            fit(&l.encoding, 16),
            fit(&l.destination, WIDTH.saturating_sub(60))
        );
    }
    for rd in c.read.iter().take(LIST_SHOWN) {
        let id = rd
            .canary_id
            .as_ref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        let by = rd
            .process
            .as_ref()
            .map(|p| format!(" by {p}"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  read   {}",
            fit(&format!("{}{id} via {}{by}", rd.path, rd.via), WIDTH - 9)
        );
    }
    if c.read.len() > LIST_SHOWN {
        let _ = writeln!(o, "  … {} more reads", c.read.len() - LIST_SHOWN);
    }
}

fn footer(o: &mut String, r: &Report, st: &Style) {
    if !r.limits.is_empty() {
        heading(o, st, "Limits hit");
        for l in &r.limits {
            let _ = writeln!(
                o,
                "  {}",
                fit(
                    &format!("{} in {}: {}", l.limit, l.phase, l.detail),
                    WIDTH - 2
                )
            );
        }
    }
    if !r.notes.is_empty() || !r.trace_gaps.is_empty() {
        heading(o, st, "Notes");
        for n in r.notes.iter().chain(r.trace_gaps.iter()) {
            for (i, line) in wrap(&clean(n), WIDTH - 4).into_iter().enumerate() {
                let _ = writeln!(o, "  {} {line}", if i == 0 { "-" } else { " " });
            }
        }
    }
    let c = &r.counts;
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{}",
        st.dim(
            &[
                plural(c.events, "event", "events"),
                plural(c.processes, "process", "processes"),
                plural(c.files_written, "file written", "files written"),
                plural(c.connections, "connection", "connections"),
                plural(c.dns_queries, "DNS query", "DNS queries"),
                plural(c.http_requests, "HTTP request", "HTTP requests"),
            ]
            .join(" · ")
        )
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(clean("a\x1b[31mred\r\n"), "a\\x1b[31mred\\x0d\\x0a");
        assert_eq!(clean("\u{9b}2J"), "\\x9b2J");
        assert_eq!(clean("\x7f"), "\\x7f");
        // bidi overrides and invisible characters show as escapes
        assert_eq!(
            clean("evil\u{202e}gpj.exe\u{200b}\u{feff}\u{2066}\u{061c}"),
            "evil\\u{202e}gpj.exe\\u{200b}\\u{feff}\\u{2066}\\u{061c}"
        );
        // ordinary non-ASCII text is left alone
        assert_eq!(clean("café — 日本"), "café — 日本");
    }

    #[test]
    fn verdict_box_holds_long_names_and_scores() {
        let mut r = crate::Report::build(
            &airlock_events::TraceHeader {
                schema_version: 1,
                run_id: "r".repeat(150),
                started_at: 0.0,
                package: airlock_events::PackageRef {
                    name: "n".repeat(150),
                    version: "1.0.0-".to_string() + &"x".repeat(80),
                    ..Default::default()
                },
                tool_version: "t".into(),
                image: None,
                persona: None,
                home: None,
                package_dir: None,
                canaries: vec![],
                notes: Default::default(),
            },
            &[],
            crate::JudgementInput::not_evaluated(),
            crate::RunInfo::default(),
        );
        r.score = 123_456_789.5;
        r.ruleset = Some("h".repeat(200));
        let out = render_human(&r, false);
        for line in out.lines() {
            assert!(line.chars().count() <= WIDTH, "{line}");
        }
        let first: Vec<usize> = out.lines().take(4).map(|l| l.chars().count()).collect();
        assert_eq!(first, [WIDTH; 4], "the box is exactly {WIDTH} wide");
    }

    #[test]
    fn fit_tail_keeps_the_acting_process() {
        assert_eq!(fit_tail("npm → sh → node → curl", 12), "…node → curl");
        assert_eq!(fit_tail("short", 12), "short");
    }

    #[test]
    fn wrap_respects_width() {
        let lines = wrap("aaa bbb ccc ddd eee", 7);
        assert_eq!(lines, vec!["aaa bbb", "ccc ddd", "eee"]);
        assert!(wrap("", 10).is_empty());
    }
}

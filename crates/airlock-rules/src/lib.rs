//! airlock's rule engine: loads declarative TOML rules from `rules/`, checks them with
//! diagnostics that point at file and line, streams a trace through them, and turns the
//! findings into a verdict.
//!
//! ```no_run
//! use airlock_rules::{Diagnostics, FailOn, Ruleset};
//! let rules = Ruleset::load_dir("rules".as_ref()).map_err(|e| Diagnostics(&e).to_string())?;
//! let file = std::io::BufReader::new(std::fs::File::open("trace.jsonl").map_err(|e| e.to_string())?);
//! let judgement = rules.judge_reader(file).map_err(|e| e.to_string())?;
//! println!("{} ({:.1}) with ruleset {}", judgement.verdict, judgement.score, judgement.ruleset_hash);
//! std::process::exit(FailOn::Malicious.exit_code(judgement.verdict));
//! # Ok::<(), String>(())
//! ```
//!
//! The rule language is documented in `rules/README.md`.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use airlock_events::{
    Ecosystem, Event, Finding, PackageRef, Record, TraceError, TraceFooter, TraceHeader,
    TraceReader, Verdict, SCHEMA_VERSION,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod compile;
mod engine;
mod error;
mod fields;
pub mod fixtures;
mod matcher;
mod spec;
mod summary;
pub mod synth;
mod verdict;
pub mod waiver;

pub use airlock_events::attribution::{attribute_trace, Attributor};
pub use compile::{Attribution, Fixture, Rule, Scope};
pub use engine::{RunFacts, MAX_EVIDENCE};
pub use error::{Diagnostics, RuleError};
pub use matcher::entropy;
pub use spec::FixtureExpect;
pub use summary::summarize;
pub use verdict::{Decision, FailOn, VerdictConfig};
pub use waiver::{Waiver, Waivers};

/// The list of package-manager hosts (registries) whose traffic, in the install phase, is
/// the package manager's own unless a lifecycle process connected to them.
pub const MANAGER_HOSTS_LIST: &str = "package-manager-hosts";

/// Rules bound to one trace's variables: (home, package_dir, hostname, package name).
type BoundKey = (Option<String>, Option<String>, Option<String>, String);
type BoundCache = HashMap<BoundKey, Arc<engine::Bound>>;

/// A loaded, checked set of rules with its lists and verdict configuration.
pub struct Ruleset {
    rules: Vec<Rule>,
    /// Conditions compiled per (home, package_dir); most runs share one.
    bound: Mutex<BoundCache>,
    lists: compile::Lists,
    verdict: VerdictConfig,
    hash: String,
    root: PathBuf,
}

/// The result of judging one trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub score: f64,
    /// Most decisive and severe first.
    pub findings: Vec<Finding>,
    /// The ruleset version the judgement was made with.
    pub ruleset_hash: String,
    /// False when the trace had no footer, a footer with `complete: false`, or a bad line.
    pub complete: bool,
    /// Phases that timed out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timed_out: Vec<String>,
    /// Why the verdict is a run state rather than a decision, when it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub events: u64,
    /// Which proof made the verdict, or why none did (`no proof of harm; signals: …`).
    #[serde(default)]
    pub reason: String,
    /// Phases that ended in a sandbox error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errored: Vec<String>,
}

/// Errors judging a stored trace.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("trace does not start with a header record")]
    NoHeader,
    #[error(transparent)]
    Trace(#[from] TraceError),
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if p.is_dir() {
            if name == "lists" || name.ends_with(".fixtures") || name == "tests" {
                continue;
            }
            collect_files(&p, out)?;
        } else if name.ends_with(".toml") {
            out.push(p);
        }
    }
    Ok(())
}

impl std::fmt::Debug for Ruleset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ruleset")
            .field("rules", &self.rules.len())
            .field("hash", &self.hash)
            .finish()
    }
}

impl Ruleset {
    /// Loads every rule under `dir` (`<category>/<id>.toml`), the lists in `dir/lists/`
    /// and `dir/verdict.toml`. All problems are returned, each pointing at its line.
    pub fn load_dir(dir: &Path) -> Result<Ruleset, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut hashed: Vec<(String, String)> = Vec::new();
        let lists = compile::load_lists(&dir.join("lists"), &mut errors, &mut hashed, dir);
        let verdict_path = dir.join("verdict.toml");
        let verdict = match std::fs::read_to_string(&verdict_path) {
            Ok(src) => {
                hashed.push(("verdict.toml".into(), src.clone()));
                match toml::from_str::<VerdictConfig>(&src) {
                    Ok(v) => v,
                    Err(e) => {
                        errors.push(RuleError::at(
                            "toml",
                            &verdict_path,
                            &src,
                            e.span(),
                            e.message().to_string(),
                        ));
                        VerdictConfig::default()
                    }
                }
            }
            Err(_) => VerdictConfig::default(),
        };
        let mut files = Vec::new();
        if let Err(e) = collect_files(dir, &mut files) {
            errors.push(RuleError::file("io", dir, e.to_string()));
        }
        let mut rules = Vec::new();
        for f in files {
            if f == verdict_path {
                continue;
            }
            let src = match std::fs::read_to_string(&f) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(RuleError::file("io", &f, e.to_string()));
                    continue;
                }
            };
            hashed.push((compile::rel(&f, dir), src.clone()));
            let category = f
                .parent()
                .and_then(|p| p.strip_prefix(dir).ok())
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            match compile::compile_rule(&f, &category, &src, &lists, &verdict.families) {
                Ok(r) => rules.push(r),
                Err(mut e) => errors.append(&mut e),
            }
        }
        compile::check_duplicates(&rules, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        hashed.sort();
        let mut h = Sha256::new();
        for (name, text) in &hashed {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        }
        Ok(Ruleset {
            rules,
            bound: Mutex::new(HashMap::new()),
            lists,
            verdict,
            hash: hex::encode(h.finalize()),
            root: dir.to_path_buf(),
        })
    }

    /// Stable hash of the rules, lists and verdict config: the ruleset version.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn verdict_config(&self) -> &VerdictConfig {
        &self.verdict
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A list from `rules/lists/` by name.
    pub fn list(&self, name: &str) -> Option<&[String]> {
        self.lists.get(name).map(Vec::as_slice)
    }

    /// Judges a trace given its header and the records after it (events and the footer),
    /// in one pass.
    pub fn judge<I>(&self, header: &TraceHeader, records: I) -> Judgement
    where
        I: IntoIterator<Item = Record>,
    {
        self.judge_fallible(header, records.into_iter().map(Ok::<Record, TraceError>))
    }

    /// Judges static events alone, as a complete trace in which no phase ran: what the
    /// static pass says of package `name` without the sandbox (`airlock diff`, corpus
    /// tables, benches). The one entry point for static judging.
    pub fn judge_static(&self, name: &str, eco: Ecosystem, events: Vec<Event>) -> Judgement {
        let header = TraceHeader {
            schema_version: SCHEMA_VERSION,
            run_id: "static".into(),
            started_at: 0.0,
            package: PackageRef {
                ecosystem: Some(eco),
                name: name.into(),
                version: String::new(),
                sha256: None,
                integrity: None,
            },
            tool_version: "static".into(),
            image: None,
            persona: None,
            home: Some("/home/runner".into()),
            // Where a package lives is its ecosystem's business, not the rules'; static
            // events name files inside the archive, never an installed path.
            package_dir: None,
            canaries: vec![],
            notes: Default::default(),
        };
        let n = events.len() as u64;
        let mut records: Vec<Record> = events
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.seq = i as u64;
                Record::Event(e)
            })
            .collect();
        records.push(Record::Footer(TraceFooter {
            events: n,
            ended_at: 1.0,
            complete: true,
            gaps: vec![],
        }));
        self.judge(&header, records)
    }

    /// Like [`Ruleset::judge`], for records that may fail to read; a read error ends the
    /// trace as incomplete.
    pub fn judge_fallible<I>(&self, header: &TraceHeader, records: I) -> Judgement
    where
        I: IntoIterator<Item = Result<Record, TraceError>>,
    {
        let hosts = self
            .list(MANAGER_HOSTS_LIST)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        // Short host names ("box", "ci") would match by chance in outbound data.
        let hostname = header
            .notes
            .get("hostname")
            .filter(|h| h.len() >= 6)
            .cloned();
        let key = (
            header.home.clone(),
            header.package_dir.clone(),
            hostname.clone(),
            header.package.name.clone(),
        );
        let bound = {
            let mut cache = self.bound.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 64 {
                cache.clear();
            }
            cache
                .entry(key)
                .or_insert_with(|| {
                    let vars = matcher::Vars {
                        home: header.home.clone(),
                        package_dir: header.package_dir.clone(),
                        hostname,
                        user: header
                            .home
                            .as_deref()
                            .and_then(|h| h.trim_end_matches('/').rsplit('/').next())
                            .filter(|u| !u.is_empty())
                            .map(str::to_string),
                        package: Some(header.package.name.clone()).filter(|n| !n.is_empty()),
                    };
                    Arc::new(engine::bind_rules(&self.rules, &vars))
                })
                .clone()
        };
        let mut ev = engine::Evaluator::new(&self.rules, &bound, header);
        // Who acted, computed here so stored traces (written before attribution, or by
        // an older version of it) are judged with the current attribution.
        let mut who = Attributor::new(header, &hosts);
        let mut read_error = None;
        for rec in records {
            match rec {
                Ok(Record::Event(mut e)) => {
                    e.actor = Some(who.attribute(&e));
                    ev.event(&e)
                }
                Ok(Record::Footer(f)) => {
                    ev.facts.footer_seen = true;
                    ev.facts.complete = f.complete;
                }
                Ok(Record::Header(_)) => {}
                Err(e) => {
                    read_error = Some(e.to_string());
                    ev.facts.complete = false;
                    break;
                }
            }
        }
        let (mut findings, facts) = ev.finish();
        let d = self.verdict.decide(&mut findings, &facts);
        let mut notes = d.notes;
        if let Some(e) = read_error {
            notes.push(format!("trace unreadable past this point: {e}"));
        }
        Judgement {
            verdict: d.verdict,
            score: d.score,
            findings,
            ruleset_hash: self.hash.clone(),
            complete: facts.complete,
            timed_out: facts.timed_out,
            notes,
            events: facts.events,
            reason: d.reason,
            errored: facts.errored,
        }
    }

    /// The attributor for a trace with this header (the package-manager hosts come from
    /// `rules/lists/`). The engine stamps each event it writes with
    /// `Some(attributor.attribute(&event))`, in trace order; judging recomputes it.
    pub fn attributor(&self, header: &TraceHeader) -> Attributor {
        let hosts = self.list(MANAGER_HOSTS_LIST).unwrap_or_default();
        Attributor::new(header, hosts)
    }

    /// Marks the findings `waivers` cover for this judgement's package as waived and
    /// decides the verdict again without them. Returns warnings (expired waivers).
    pub fn apply_waivers(
        &self,
        judgement: &mut Judgement,
        package: &PackageRef,
        waivers: &Waivers,
        today: waiver::Date,
    ) -> Vec<String> {
        let warnings = waivers.mark(&mut judgement.findings, package, today);
        let facts = RunFacts {
            events: judgement.events,
            timed_out: judgement.timed_out.clone(),
            errored: judgement.errored.clone(),
            complete: judgement.complete,
            footer_seen: true,
        };
        let d = self.verdict.decide(&mut judgement.findings, &facts);
        judgement.verdict = d.verdict;
        judgement.score = d.score;
        judgement.reason = d.reason;
        warnings
    }

    /// Judges a JSON Lines trace read from `input`, streaming.
    pub fn judge_reader<R: BufRead>(&self, input: R) -> Result<Judgement, JudgeError> {
        let mut reader = TraceReader::new(input);
        let header = match reader.next() {
            Some(Ok(Record::Header(h))) => h,
            Some(Err(e)) => return Err(e.into()),
            _ => return Err(JudgeError::NoHeader),
        };
        Ok(self.judge_fallible(&header, reader))
    }
}

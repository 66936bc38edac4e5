//! Progress of the wrapper's analyses on stderr: on a terminal, one indicatif line per
//! package in flight (spinner, package, current phase, elapsed time) under an overall
//! counter; elsewhere (CI logs, pipes), one plain line per start and per verdict.

use std::sync::Arc;
use std::time::Duration;

use airlock_events::Verdict;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// All bars of one wrapper run.
#[derive(Clone)]
pub struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    plain: bool,
    count: usize,
}

/// The bar of one package.
#[derive(Clone)]
pub struct Bar {
    bar: ProgressBar,
    label: Arc<str>,
    plain: bool,
    total: ProgressBar,
}

impl Bars {
    pub fn new(count: usize) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let plain = multi.is_hidden();
        let total = multi.add(ProgressBar::new(count as u64));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30}] {pos}/{len} analyzed, {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        total.set_prefix("airlock");
        if !plain {
            total.enable_steady_tick(Duration::from_millis(500));
        }
        if plain {
            eprintln!("airlock: analyzing {count} package(s) in the sandbox");
        }
        Bars {
            multi,
            total,
            plain,
            count,
        }
    }

    /// A bar for a package whose analysis starts now.
    pub fn start(&self, label: &str) -> Bar {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {prefix:<32} {wide_msg} {elapsed:>4}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        // The label is a package's name and version: neutralised once, shown everywhere.
        let shown = crate::commands::safe(label);
        let label = shown.as_str();
        bar.set_prefix(label.to_string());
        bar.set_message("fetching");
        if !self.plain {
            bar.enable_steady_tick(Duration::from_millis(120));
        } else {
            eprintln!("airlock: {label}: analyzing");
        }
        Bar {
            bar,
            label: label.into(),
            plain: self.plain,
            total: self.total.clone(),
        }
    }

    pub fn finish(&self) {
        self.total.finish_and_clear();
        if self.plain {
            eprintln!("airlock: {} analysis(es) finished", self.count);
        }
    }
}

impl Bar {
    /// The current step (`install phase`, `import phase`, ...).
    pub fn step(&self, step: &str) {
        self.bar.set_message(step.to_string());
        if self.plain {
            tracing::info!(package = %self.label, "{step}");
        }
    }

    /// A message that should stay visible.
    pub fn note(&self, msg: &str) {
        let msg = crate::commands::safe(msg);
        if self.plain {
            eprintln!("airlock: {}: {msg}", self.label);
        } else {
            self.bar.println(format!("airlock: {}: {msg}", self.label));
        }
    }

    pub fn done(&self, verdict: Verdict, error: Option<&str>) {
        let elapsed = self.bar.elapsed().as_secs_f64();
        let msg = match error {
            Some(e) => format!("{verdict} ({})", crate::commands::safe(e)),
            None => verdict.to_string(),
        };
        if self.plain {
            eprintln!("airlock: {}: {msg} after {elapsed:.1} s", self.label);
        } else {
            self.bar.println(format!(
                "  {} {}: {msg} ({elapsed:.1} s)",
                mark(verdict),
                self.label
            ));
        }
        self.bar.finish_and_clear();
        self.total.inc(1);
    }
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Benign => "ok",
        Verdict::Malicious => "!!",
        _ => "??",
    }
}

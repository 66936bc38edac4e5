//! The start of a run against a fake backend (no Docker): the sink, the sandbox joined
//! to its namespace and the sink's readiness overlap the host-side preparation, no phase
//! runs before the sink is ready, and when the start fails half-way whatever was created
//! — the sandbox, the sink — is removed, never left behind.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::sandbox::*;
use crate::{analyze_artifact, EngineError, ScanOptions};

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

struct FakeBackend {
    log: Log,
    ready_fails: bool,
}

struct FakeSink {
    log: Log,
    ready_fails: bool,
}

struct FakeBox {
    log: Log,
}

impl Backend for FakeBackend {
    type Sandbox = FakeBox;
    type Sink = FakeSink;

    async fn ensure_image(&self) -> Result<String, BackendError> {
        Ok("image".into())
    }

    async fn start_sink(&self, _req: &SinkRequest) -> Result<FakeSink, BackendError> {
        push(&self.log, "sink started");
        Ok(FakeSink {
            log: self.log.clone(),
            ready_fails: self.ready_fails,
        })
    }

    async fn create(&self, req: SandboxRequest) -> Result<FakeBox, BackendError> {
        push(&self.log, format!("sandbox created on {:?}", req.network));
        Ok(FakeBox {
            log: self.log.clone(),
        })
    }
}

impl Sink for FakeSink {
    fn id(&self) -> &str {
        "sink-1"
    }

    async fn ready(&self) -> Result<(), BackendError> {
        push(&self.log, "sink ready?");
        if self.ready_fails {
            return Err("the sink never said READY".into());
        }
        Ok(())
    }

    fn events_file(&self) -> PathBuf {
        PathBuf::from("/nonexistent/events.jsonl")
    }

    async fn stop(self) {
        push(&self.log, "sink stopped");
    }
}

impl Sandbox for FakeBox {
    async fn upload_tar(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), BackendError> {
        push(&self.log, "upload");
        Ok(())
    }

    async fn exec(&self, _: &[String], _: &str) -> Result<ExecResult, BackendError> {
        Ok(ExecResult {
            exit_code: Some(0),
            output_tail: String::new(),
        })
    }

    async fn spawn(
        &self,
        _: &[String],
        _: &str,
        _: &[(String, String)],
        _: &str,
    ) -> Result<(), BackendError> {
        Ok(())
    }

    fn trace_file_for(&self, phase: &str) -> String {
        format!("/trace/{phase}")
    }

    async fn run_phase(&self, req: &PhaseRequest, _: &Path) -> Result<PhaseResult, BackendError> {
        push(&self.log, format!("phase {}", req.name));
        Ok(PhaseResult {
            exit_code: Some(0),
            duration_ms: 1,
            ..Default::default()
        })
    }

    async fn snapshot(&self, _: &[String]) -> Result<String, BackendError> {
        Ok(String::new())
    }

    async fn hash_files(
        &self,
        _: &[String],
    ) -> Result<std::collections::HashMap<String, String>, BackendError> {
        Ok(Default::default())
    }

    async fn read_files(
        &self,
        _: &[String],
        _: u64,
    ) -> Result<std::collections::HashMap<String, Vec<u8>>, BackendError> {
        Ok(Default::default())
    }

    async fn copy_out(&self, _: &str, dest: &Path) -> Result<(), BackendError> {
        std::fs::write(dest, b"")?;
        Ok(())
    }

    async fn destroy(self) {
        push(&self.log, "sandbox destroyed");
    }
}

/// A package with no dependencies (nothing runs on the host to prepare it).
fn artifact(dir: &Path) -> airlock_ecosystem::Artifact {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.json"),
        r#"{"name":"lone","version":"1.0.0","main":"index.js"}"#,
    )
    .unwrap();
    std::fs::write(pkg.join("index.js"), "module.exports = () => 1;\n").unwrap();
    let opts = ScanOptions::default();
    airlock_ecosystem::artifact::fetch(
        &airlock_ecosystem::artifact::Input::Dir(pkg),
        &opts.sources(),
        dir,
    )
    .unwrap()
}

async fn run(ready_fails: bool) -> (Result<(), EngineError>, Vec<String>, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let log: Log = Default::default();
    let backend = FakeBackend {
        log: log.clone(),
        ready_fails,
    };
    let opts = ScanOptions {
        phase_timeout: std::time::Duration::from_secs(60),
        time_speedup: 1,
        ..ScanOptions::default()
    };
    let statics = {
        let log = log.clone();
        async move {
            push(&log, "static pass");
            Vec::new()
        }
    };
    let r = analyze_artifact(&backend, &artifact, &opts, &work, statics, &|_| {}).await;
    let log = log.lock().unwrap().clone();
    match r {
        Ok((trace, _)) => {
            let notes = trace
                .header
                .notes
                .into_iter()
                .filter(|(k, _)| k.starts_with("timing."))
                .collect();
            (Ok(()), log, notes)
        }
        Err(e) => (Err(e), log, Vec::new()),
    }
}

#[tokio::test]
async fn the_sandbox_joins_the_sink_before_it_is_ready_but_no_phase_runs_before() {
    let (r, log, notes) = run(false).await;
    r.unwrap();
    let at = |s: &str| {
        log.iter()
            .position(|l| l.starts_with(s))
            .unwrap_or_else(|| panic!("{s} missing: {log:?}"))
    };
    assert!(at("sink started") < at("sandbox created on Sink(\"sink-1\")"));
    assert!(at("sandbox created") < at("sink ready?"), "{log:?}");
    assert!(at("sink ready?") < at("upload"), "{log:?}");
    assert!(at("upload") < at("phase install"), "{log:?}");
    assert!(at("phase install") < at("sandbox destroyed"), "{log:?}");
    assert!(at("sandbox destroyed") < at("sink stopped"), "{log:?}");
    let keys: Vec<&str> = notes.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
        "timing.setup_ms",
        "timing.start_ms",
        "timing.stage_ms",
        "timing.phase_setup_ms",
        "timing.fs_diff_ms",
        "timing.cleanup_ms",
        "timing.sink_stop_ms",
        "timing.overlap.static_pass_ms",
        "timing.overlap.sink_start_ms",
        "timing.total.engine_ms",
    ] {
        assert!(keys.contains(&k), "{k} missing: {keys:?}");
    }
}

#[tokio::test]
async fn a_sink_that_never_gets_ready_leaves_nothing_behind() {
    let (r, log, _) = run(true).await;
    assert!(matches!(r, Err(EngineError::Sandbox(_))), "{:?}", r.err());
    assert!(log.iter().any(|l| l == "sandbox destroyed"), "{log:?}");
    assert!(log.iter().any(|l| l == "sink stopped"), "{log:?}");
    assert!(!log.iter().any(|l| l.starts_with("phase ")), "{log:?}");
}

//! The network sink's inputs on the host: the run's CA (the sandbox trusts it, the sink
//! terminates TLS with it), the bait configuration of its metadata services, and the CA
//! bundle mounted over the sandbox's own.

use std::path::{Path, PathBuf};

use crate::EngineError;

pub struct SinkInputs {
    pub input_dir: PathBuf,
    pub output_dir: PathBuf,
    /// The system CA bundle plus the run's CA, mounted over the sandbox's bundle.
    pub bundle: PathBuf,
}

/// Writes the run CA, the bait config and the CA bundle the sandbox will trust.
pub fn prepare_sink_inputs(
    run_id: &str,
    work: &Path,
    bait: Option<&airlock_bait::BaitPlan>,
) -> Result<SinkInputs, EngineError> {
    use std::os::unix::fs::PermissionsExt;
    let input_dir = work.join("sink-in");
    let output_dir = work.join("sink-out");
    std::fs::create_dir_all(&input_dir)?;
    std::fs::create_dir_all(&output_dir)?;
    // The work dir is 0700. The sink runs as root without CAP_DAC_OVERRIDE, in airlock's
    // group (airlock_sandbox::sink): when airlock is not root it reaches these through
    // the group, never through permissions for others.
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&input_dir, 0o750)?;
    mode(&output_dir, if is_root() { 0o700 } else { 0o770 })?;
    let ca = airlock_sink::generate_ca(run_id)
        .map_err(|e| EngineError::Sink(format!("generating the run CA: {e}")))?;
    std::fs::write(input_dir.join("ca.pem"), &ca.cert_pem)?;
    mode(&input_dir.join("ca.pem"), 0o644)?;
    let key = input_dir.join("ca.key");
    std::fs::File::create(&key)?.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(&key, &ca.key_pem)?;
    mode(&key, if is_root() { 0o600 } else { 0o640 })?;
    if let Some(plan) = bait {
        // The metadata services hand out the plan's cloud canaries.
        let mut config = serde_json::to_value(&plan.imds)?;
        if let Some(o) = config.as_object_mut() {
            o.insert("aws_role".into(), "github-actions-runner".into());
        }
        std::fs::write(
            input_dir.join("bait.json"),
            serde_json::to_vec_pretty(&config)?,
        )?;
        mode(&input_dir.join("bait.json"), 0o640)?;
    }
    let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let bundle = input_dir.join("ca-bundle.crt");
    std::fs::write(&bundle, format!("{system}\n{}", ca.cert_pem))?;
    // Bind-mounted as the sandbox's CA bundle: the package's user reads it.
    mode(&bundle, 0o644)?;
    Ok(SinkInputs {
        input_dir,
        output_dir,
        bundle,
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The binary mounted into the sink container: `$AIRLOCK_SINK_BINARY`, else this one.
pub fn sink_binary() -> Result<PathBuf, EngineError> {
    if let Some(p) = std::env::var_os("AIRLOCK_SINK_BINARY") {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().map_err(|source| EngineError::Io {
        what: "locating the airlock binary for the sink".into(),
        source,
    })
}

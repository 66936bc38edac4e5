//! The sink's command line, shared by the `airlock-sink` binary and the hidden
//! `airlock sink` subcommand (the orchestrator mounts the `airlock` binary itself into
//! the sink container, so one build artifact serves both sides): parses flags,
//! optionally sets up the namespace's redirect rules, runs the sink until
//! SIGTERM/SIGINT, then writes the footer. Also `gen-ca` for making a run CA by hand.

use std::path::PathBuf;
use std::time::Duration;

use crate::{
    generate_ca, setup_net, BaitConfig, CaPair, EventLog, Limits, NetPorts, Sink, SinkConfig,
    SystemRunner,
};
use airlock_events::EventKind;
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "airlock-sink",
    version,
    about = "airlock's network sink: answers and records everything, lets nothing out"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Bring lo up, route everything over it and install the REDIRECT rules.
    #[arg(long)]
    setup_net: bool,
    /// JSON Lines output file (appended).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "0.0.0.0")]
    listen: std::net::IpAddr,
    #[arg(long, default_value_t = crate::DEFAULT_TCP_PORT)]
    tcp_port: u16,
    #[arg(long, default_value_t = crate::DEFAULT_DNS_PORT)]
    dns_port: u16,
    /// Catch-all UDP port (0 = ephemeral); `--no-udp` to not listen.
    #[arg(long, default_value_t = crate::DEFAULT_UDP_PORT)]
    udp_port: u16,
    #[arg(long)]
    no_udp: bool,
    /// The run CA (PEM); without both, TLS is recorded but not terminated.
    #[arg(long, requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    #[arg(long, requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    /// Bait JSON (fake credentials, identities); all fields optional.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Bytes captured per connection.
    #[arg(long, default_value_t = 1 << 20)]
    capture_cap: usize,
    /// Seconds of silence before a connection is closed.
    #[arg(long, default_value_t = 120)]
    idle_timeout: u64,
    /// Bytes of events recorded per run; past it (and past each kind's share) events are
    /// counted in a summary instead.
    #[arg(long, default_value_t = crate::Budgets::default().max_record_bytes)]
    record_budget: u64,
    /// Connections served at once; one more closes the least recently active.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Bytes of memory for captured request bodies past their heads, all connections.
    #[arg(long, default_value_t = Limits::default().capture_memory)]
    capture_memory: u64,
    /// TCP ports not redirected (comma separated), for a package's own loopback servers.
    #[arg(long, value_delimiter = ',')]
    loopback_passthrough: Vec<u16>,
    /// Non-loopback address given to `lo` by --setup-net (for AI_ADDRCONFIG and realism).
    #[arg(long, default_value_t = crate::netsetup::DEFAULT_HOST_ADDR)]
    host_addr: std::net::Ipv4Addr,
    #[arg(long)]
    no_host_addr: bool,
    /// Also stop at the end of stdin: the orchestrator holds the container's stdin open,
    /// so a sink whose airlock died stops by itself.
    #[arg(long)]
    stop_on_stdin_eof: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a fresh CA as <dir>/ca.pem and <dir>/ca.key.
    GenCa { run_id: String, dir: PathBuf },
}

/// Runs the sink command line with `args` (the first item is the program name). Must not
/// be called from inside an async runtime: it builds its own.
pub fn main_from_args<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_SINK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Some(Cmd::GenCa {
            ref run_id,
            ref dir,
        }) => gen_ca(run_id, dir),
        None => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("tokio runtime")
            .and_then(|rt| rt.block_on(run(cli))),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock-sink: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn gen_ca(run_id: &str, dir: &std::path::Path) -> Result<()> {
    let ca = generate_ca(run_id)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).context("writing ca.pem")?;
    std::fs::write(dir.join("ca.key"), &ca.key_pem).context("writing ca.key")?;
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let log = match &cli.out {
        Some(p) => EventLog::to_file(p)?,
        None => bail!("--out FILE is required"),
    };
    let bait = match &cli.config {
        Some(p) => BaitConfig::load(p)?,
        None => BaitConfig::default(),
    };
    let ca = match (&cli.ca_cert, &cli.ca_key) {
        (Some(c), Some(k)) => Some(CaPair {
            cert_pem: std::fs::read_to_string(c)
                .with_context(|| format!("reading {}", c.display()))?,
            key_pem: std::fs::read_to_string(k)
                .with_context(|| format!("reading {}", k.display()))?,
        }),
        _ => None,
    };
    if cli.setup_net {
        // lo must be up before binding so 127.0.0.1 exists in a fresh namespace.
        let (ok, err) = crate::netsetup::CommandRunner::run(
            &mut SystemRunner,
            &[
                "ip".into(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        );
        if !ok {
            bail!("ip link set lo up: {err}");
        }
    }
    let config = SinkConfig {
        listen: cli.listen,
        tcp_port: cli.tcp_port,
        dns_port: cli.dns_port,
        udp_port: (!cli.no_udp).then_some(cli.udp_port),
        ca,
        bait,
        limits: Limits {
            capture_cap: cli.capture_cap,
            idle_timeout: Duration::from_secs(cli.idle_timeout),
            max_connections: cli.max_connections,
            capture_memory: cli.capture_memory,
            budgets: crate::Budgets {
                max_record_bytes: cli.record_budget,
                ..crate::Budgets::default()
            },
            ..Limits::default()
        },
    };
    let sink = Sink::start(config, log.clone()).await?;
    let gaps = Vec::new();
    if cli.setup_net {
        let ports = NetPorts {
            tcp: sink.tcp_addr.port(),
            dns: sink.dns_addr.port(),
            udp: sink.udp_addr.map(|a| a.port()),
            passthrough: cli.loopback_passthrough.clone(),
            host_addr: (!cli.no_host_addr).then_some(cli.host_addr),
        };
        let report = setup_net(&mut SystemRunner, &ports);
        for line in report.lines() {
            tracing::info!("{line}");
        }
        log.emit(EventKind::Note {
            message: format!("sink net setup:\n{}", report.lines().join("\n")),
        });
        if !report.ipv4_ok {
            sink.shutdown(
                Duration::from_millis(0),
                vec!["sink: network setup failed".into()],
            )
            .await;
            bail!("network setup failed:\n{}", report.lines().join("\n"));
        }
        if !report.ipv6_ok {
            tracing::info!("ip6tables rules not installed (IPv6 disabled?)");
        }
    }
    println!("READY {} {}", sink.tcp_addr.port(), sink.dns_addr.port());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    wait_for_signal(cli.stop_on_stdin_eof).await?;
    tracing::info!("stopping");
    // The orchestrator waits about 5 s for the footer before removing the container.
    sink.shutdown(Duration::from_secs(3), gaps).await;
    Ok(())
}

async fn wait_for_signal(stdin_eof: bool) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let eof = async {
        if !stdin_eof {
            return std::future::pending().await;
        }
        let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut tokio::io::sink()).await;
        tracing::info!("stdin closed: the orchestrator is gone");
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = eof => {}
    }
    Ok(())
}

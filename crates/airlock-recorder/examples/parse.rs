//! Parses a strace output file and prints the events as JSON Lines on stdout and the
//! counters (with lines/s) on stderr: `cargo run --release --example parse -- FILE [PHASE]`.
//! With `--synthetic N` it parses N generated lines instead, as a throughput check.

use std::io::Write;
use std::time::Instant;

use airlock_recorder::{parse_file, Recorder, RecorderConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--synthetic") {
        let n: u64 = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        return synthetic(n);
    }
    let Some(path) = args.first() else {
        return Err("usage: parse FILE [PHASE] | parse --synthetic N".into());
    };
    let cfg = RecorderConfig::new(args.get(1).map(String::as_str).unwrap_or("install"));
    let start = Instant::now();
    let (events, stats) = parse_file(cfg, path.as_ref())?;
    let secs = start.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    for e in &events {
        serde_json::to_writer(&mut out, e)?;
        out.write_all(b"\n")?;
    }
    eprintln!(
        "{stats:?} in {secs:.3}s ({:.0} lines/s)",
        stats.lines as f64 / secs
    );
    Ok(())
}

fn synthetic(n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut rec = Recorder::new(RecorderConfig::new("install"));
    let mut out = Vec::new();
    let start = Instant::now();
    let mut kept = 0u64;
    for i in 0..n {
        let pid = 100 + (i % 50) as u32;
        let ts = 1_700_000_000.0 + i as f64 * 1e-5;
        let line = match i % 5 {
            0 => format!(
                r#"{pid} {ts:.6} openat(AT_FDCWD</app>, "/app/node_modules/x/lib/file{i}.js", O_RDONLY|O_CLOEXEC) = 21</app/node_modules/x/lib/file{i}.js>"#
            ),
            1 => format!(
                r#"{pid} {ts:.6} connect(3<TCP:[1]>, {{sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("10.0.0.{}")}}, 16) = -1 EINPROGRESS (Operation now in progress)"#,
                i % 250
            ),
            2 => format!(
                r#"{pid} {ts:.6} access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)"#
            ),
            3 => format!(
                r#"{pid} {ts:.6} execve("/usr/bin/node", ["node", "install.js", "--n={i}"], ["PATH=/usr/bin", "npm_lifecycle_event=postinstall", "HOME=/home/u"]) = 0"#
            ),
            _ => format!(
                r#"{pid} {ts:.6} renameat2(AT_FDCWD</app>, "a{i}", AT_FDCWD</app>, "b{i}", RENAME_NOREPLACE) = 0"#
            ),
        };
        rec.feed_line(&line, &mut out);
        kept += out.len() as u64;
        out.clear();
    }
    let stats = rec.finish(&mut out);
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{n} lines, {kept} events, {} unparsed in {secs:.3}s: {:.0} lines/s",
        stats.unparsed,
        n as f64 / secs
    );
    Ok(())
}

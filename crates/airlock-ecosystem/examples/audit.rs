//! Audits a lockfile (or a directory holding lockfiles) and prints one finding a line:
//! `cargo run -p airlock-ecosystem --example audit -- <path> [--osv DIR|ZIP] [--registry URL]`.

use std::path::PathBuf;
use std::process::ExitCode;

use airlock_ecosystem::lockfiles::{audit_path, osv_db};
use airlock_static::audit::AuditOptions;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut opts = AuditOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--osv" => match args.next().map(|p| osv_db(&PathBuf::from(p))) {
                Some(Ok(db)) => opts.osv = Some(db),
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
                None => return ExitCode::from(2),
            },
            "--registry" => opts.registry = args.next(),
            _ => path = Some(PathBuf::from(a)),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: audit <path> [--osv DIR|ZIP] [--registry URL]");
        return ExitCode::from(2);
    };
    match audit_path(&path, &opts) {
        Ok(r) => {
            for f in &r.findings {
                println!(
                    "{}:{} {} [{}] {}@{} {}",
                    f.lockfile.display(),
                    f.line.unwrap_or(0),
                    f.code,
                    f.severity,
                    f.package,
                    f.version.as_deref().unwrap_or("?"),
                    f.message
                );
            }
            println!("{} packages, {} findings", r.packages, r.findings.len());
            ExitCode::from(u8::from(!r.findings.is_empty()))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

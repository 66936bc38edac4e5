//! Benchmark and false-positive check on a real, large, benign package: the static pass
//! over `typescript` (tens of MB of minified-style JavaScript). Ignored by default: it
//! needs the tarball, fetched on the host beforehand (no test touches the network):
//!
//! ```text
//! (cd /tmp && npm pack typescript@5.6.3)
//! AIRLOCK_BENCH_TGZ=/tmp/typescript-5.6.3.tgz \
//!   cargo test -p airlock-static --release --test bench_typescript -- --ignored --nocapture
//! ```
//!
//! The in-memory pass `airlock scan` runs is timed by the `scan_archive` example:
//! `cargo run -p airlock-static --release --example scan_archive -- typescript-5.6.3.tgz --runs 7`.

use std::collections::BTreeMap;
use std::time::Instant;

use airlock_static::{ids, scan_dir, ScanOptions};

#[test]
#[ignore = "needs AIRLOCK_BENCH_TGZ pointing at an npm tarball"]
fn typescript_static_pass_is_fast_and_not_obfuscated() {
    let Ok(tgz) = std::env::var("AIRLOCK_BENCH_TGZ") else {
        panic!("set AIRLOCK_BENCH_TGZ to the path of typescript-5.6.3.tgz");
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let file = std::fs::File::open(&tgz).expect("open tarball");
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(tmp.path())
        .expect("unpack");
    let root = tmp.path().join("package");
    for (label, cap) in [
        ("5 MiB cap (typescript.js and tsc.js skipped)", 5u64 << 20),
        ("default 32 MiB cap (everything read)", 32 << 20),
    ] {
        let start = Instant::now();
        let r = scan_dir(
            &root,
            &ScanOptions {
                max_file_bytes: cap,
                ..Default::default()
            },
        )
        .expect("scan");
        let secs = start.elapsed().as_secs_f64();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &r.signals {
            *counts.entry(s.signal.as_str()).or_default() += 1;
        }
        let mb = r.bytes_analyzed as f64 / 1e6;
        println!(
            "[{label}] {} files, {:.1} MB analyzed in {:.3} s = {:.1} MB/s; js parsed {} lexical {}",
            r.files_analyzed, mb, secs, mb / secs, r.js_parsed, r.js_fallback
        );
        println!("  signals: {counts:?}");
        for id in [
            ids::OBFUSCATED,
            ids::HEX_IDENTIFIERS,
            ids::STRING_ARRAY_ROTATION,
            ids::DECODE_EVAL,
            ids::OBFUSCATOR_PATTERN,
        ] {
            let hits: Vec<_> = r.signals.iter().filter(|s| s.signal == id).collect();
            assert!(
                hits.is_empty(),
                "benign typescript must not show {id}: {hits:#?}"
            );
        }
        assert!(secs < 10.0, "static pass took {secs:.1} s");
    }
}

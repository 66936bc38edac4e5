//! Benchmark of the cache lookups the install wrapper makes: a store with N (default
//! 10,000) judged runs, then the 200 lookups of one package tree, cold (store just
//! opened) and warm. Run: `cargo run --release -p airlock-store --example lookup_bench [N]`.
//! Target: all 200 lookups of a tree in well under 10 ms.

use std::time::Instant;

use airlock_events::{Ecosystem, Verdict};
use airlock_store::{ArtifactKey, ArtifactQuery, RunRecord, Store, StoreError, VerdictRecord};

fn main() -> Result<(), StoreError> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("airlock-store-bench-{}", std::process::id()));
    let path = dir.join("store.sqlite3");
    let store = Store::open(&path)?;

    let report = format!("{{\"findings\":[],\"pad\":\"{}\"}}", "r".repeat(3000));
    let trace: Vec<u8> = (0..300)
        .flat_map(|i| {
            format!("{{\"record\":\"event\",\"seq\":{i},\"type\":\"file.open\"}}\n").into_bytes()
        })
        .collect();
    let start = Instant::now();
    for i in 0..n {
        let key = artifact(i);
        store.record_run(
            &key,
            &RunRecord {
                run_id: &format!("run-{i}"),
                started_at: i as f64,
                duration_ms: Some(1000),
                image: Some("bench"),
                complete: true,
                trace_jsonl: &trace,
            },
            &VerdictRecord {
                ruleset_hash: "rs-1",
                verdict: if i % 97 == 0 {
                    Verdict::Malicious
                } else {
                    Verdict::Benign
                },
                score: 0.0,
                report_json: report.as_bytes(),
            },
        )?;
    }
    let fill = start.elapsed();
    println!(
        "record_run: {n} runs in {:.2} s ({:.0} runs/s)",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64()
    );
    drop(store);

    // One tree: 200 packages spread over the store, plus 10 % misses.
    let tree: Vec<usize> = (0..200).map(|i| (i * 7919) % n).collect();
    let store = Store::open(&path)?;
    let cold = lookups(&store, &tree, n)?;
    let mut warm = Vec::new();
    for _ in 0..20 {
        warm.push(lookups(&store, &tree, n)?);
    }
    warm.sort_by(f64::total_cmp);
    let median = warm[warm.len() / 2];
    println!("200 lookups, store just opened: {cold:.2} ms");
    println!(
        "200 lookups, warm: median {median:.2} ms, max {:.2} ms ({:.0} lookups/s, {:.1} µs each)",
        warm[warm.len() - 1],
        200.0 / (median / 1000.0),
        median * 1000.0 / 200.0
    );
    let queries: Vec<ArtifactQuery> = tree
        .iter()
        .enumerate()
        .map(|(j, &i)| {
            let key = if j % 10 == 0 {
                artifact(i + n)
            } else {
                artifact(i)
            };
            ArtifactQuery {
                ecosystem: key.ecosystem,
                name: key.name,
                version: key.version,
                hash: key.integrity,
            }
        })
        .collect();
    let mut batch = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let hits = store.lookup_many(&queries, Some("rs-1"))?;
        batch.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(hits.iter().flatten().count(), 180, "unexpected hit count");
    }
    batch.sort_by(f64::total_cmp);
    println!(
        "lookup_many of the 200, warm: median {:.2} ms",
        batch[batch.len() / 2]
    );
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("store file: {:.1} MiB", size as f64 / (1024.0 * 1024.0));
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn artifact(i: usize) -> ArtifactKey {
    ArtifactKey {
        ecosystem: Ecosystem::Npm,
        name: format!("package-{i}"),
        version: format!("1.{}.0", i % 13),
        sha256: Some(format!("{:064x}", i * 2_654_435_761)),
        integrity: Some(format!("sha512-{i:086}==")),
    }
}

/// Looks the tree up (every 10th name is not in the store); returns milliseconds.
fn lookups(store: &Store, tree: &[usize], n: usize) -> Result<f64, StoreError> {
    let start = Instant::now();
    let mut hits = 0;
    for (j, &i) in tree.iter().enumerate() {
        let key = if j % 10 == 0 {
            artifact(i + n)
        } else {
            artifact(i)
        };
        let hit = store.lookup(
            key.ecosystem,
            &key.name,
            &key.version,
            key.integrity.as_deref(),
            Some("rs-1"),
        )?;
        hits += usize::from(hit.is_some());
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(hits, 180, "unexpected hit count");
    Ok(ms)
}

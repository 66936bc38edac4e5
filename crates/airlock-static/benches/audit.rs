//! `airlock audit` on generated package-locks of 5k to 100k entries: the audit must
//! grow linearly with the lockfile (issue 19 measured 2.9/12.2/50.6 s for 5k/10k/20k
//! entries before the parser found entry lines in one pass).
//! `cargo bench -p airlock-static --bench audit`.

use std::path::Path;

use airlock_static::audit::{audit_lockfile, AuditOptions, RegistryFacts};
use airlock_static::lockfile::LockfileFormat;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// A v3 package-lock with `n` entries shaped like npm writes them: sorted keys, one in
/// seven nested, two dependencies each, every eleventh a dev dependency.
pub fn package_lock(n: usize) -> String {
    use std::fmt::Write;
    let mut s = String::from(
        "{\n  \"name\": \"app\",\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 3,\n  \"requires\": true,\n  \"packages\": {\n    \"\": {\n      \"name\": \"app\",\n      \"dependencies\": {\n",
    );
    let roots: Vec<usize> = (0..n).step_by(10).collect();
    for (k, i) in roots.iter().enumerate() {
        let comma = if k + 1 < roots.len() { "," } else { "" };
        let _ = writeln!(s, "        \"pkg-{i}\": \"^1.0.0\"{comma}");
    }
    s.push_str("      }\n    }");
    for i in 0..n {
        let name = format!("pkg-{i}");
        let loc = if i % 7 == 0 && i > 0 {
            format!("node_modules/pkg-{}/node_modules/{name}", i - 1)
        } else {
            format!("node_modules/{name}")
        };
        let v = i % 50;
        let dev = if i % 11 == 0 {
            ",\n      \"dev\": true"
        } else {
            ""
        };
        let _ = write!(
            s,
            ",\n    \"{loc}\": {{\n      \"version\": \"1.0.{v}\",\n      \"resolved\": \"https://registry.npmjs.org/{name}/-/{name}-1.0.{v}.tgz\",\n      \"integrity\": \"sha512-{}==\",\n      \"dependencies\": {{\n        \"pkg-{}\": \"^1.0.0\",\n        \"pkg-{}\": \"~1.0.0\"\n      }}{dev}\n    }}",
            "A".repeat(86),
            (i * 7 + 1) % n,
            (i * 13 + 5) % n
        );
    }
    s.push_str("\n  }\n}\n");
    s
}

/// The public npm registry as `airlock_ecosystem::npm::REGISTRY` describes it (that
/// crate depends on this one).
const NPM: RegistryFacts = RegistryFacts {
    osv_ecosystem: "npm",
    default_hosts: &["registry.npmjs.org"],
    file_hosts: &[],
    registry_url_markers: &["/-/"],
    normalize_name: str::to_string,
};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("audit-package-lock");
    g.sample_size(10);
    for n in [5_000usize, 10_000, 20_000, 100_000] {
        let text = package_lock(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| {
                let (entries, _) = audit_lockfile(
                    Path::new("package-lock.json"),
                    text,
                    LockfileFormat::PackageLock,
                    &NPM,
                    &AuditOptions::default(),
                )
                .expect("audit");
                assert_eq!(entries, n);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

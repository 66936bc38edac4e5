//! `--setup-net` for real, in a private network namespace made with `unshare -n` (needs
//! root; skipped with a message otherwise). The namespace has only `lo`, so nothing can
//! leave it whatever happens; the test proves connections to public, private, metadata
//! and loopback addresses, and DNS through the system resolver, all land on the sink,
//! and that a second `--setup-net` leaves one set of rules.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use airlock_events::EventKind;

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-n", "iptables", "-t", "nat", "-S"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn setup_net_redirects_everything_in_a_private_namespace() {
    if !can_unshare() {
        eprintln!("skipped: needs root, unshare and iptables");
        return;
    }
    let exe = env!("CARGO_BIN_EXE_airlock-sink");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ev.jsonl");
    let script = format!(
        r#"
set -u
start() {{ "{exe}" --setup-net --out "{out}" > "$1" 2>/dev/null & P=$!
  for i in $(seq 100); do grep -q READY "$1" && return 0; sleep 0.05; done; echo "no READY"; exit 3; }}
start {d}/r1
kill -TERM $P; wait $P
start {d}/r2
for target in 1.2.3.4/80 10.0.0.1/8080 192.168.1.1/22 169.254.169.254/80 127.0.0.1/9 ; do
  exec 3<>/dev/tcp/${{target%/*}}/${{target#*/}} || {{ echo "connect $target failed"; exit 4; }}
  printf 'GET /probe HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n' >&3
  head -c 12 <&3 | grep -q 'HTTP/1.1 [0-9]' || {{ echo "no answer from $target"; exit 5; }}
  exec 3<&-
done
getent ahostsv4 beacon.attacker.example | grep -q '^198\.1[89]\.' || {{ echo "dns failed"; exit 6; }}
echo jumps=$(iptables -t nat -S OUTPUT | grep -c 'AIRLOCK')
kill -TERM $P; wait $P
"#,
        d = dir.path().display(),
        out = out.display(),
    );
    let res = Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        stdout.contains("jumps=1"),
        "second setup must not duplicate the jump: {stdout}"
    );
    let got = airlock_sink::read_events(&out).unwrap();
    let dsts: Vec<String> = got
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NetConnection {
                dst_addr,
                dst_port,
                protocol,
                ..
            } if protocol == "http" => Some(format!("{dst_addr}:{dst_port}")),
            _ => None,
        })
        .collect();
    for want in [
        "1.2.3.4:80",
        "10.0.0.1:8080",
        "192.168.1.1:22",
        "169.254.169.254:80",
        "127.0.0.1:9",
    ] {
        assert!(
            dsts.contains(&want.to_string()),
            "{want} not seen by the sink: {dsts:?}"
        );
    }
    assert!(got.events.iter().any(
        |e| matches!(&e.kind, EventKind::DnsQuery { name, .. } if name == "beacon.attacker.example")
    ));
    assert!(got.events.iter().any(|e| matches!(&e.kind, EventKind::Note { message } if message.contains("[ok] iptables -t nat -A AIRLOCK -p tcp -j REDIRECT"))));
}

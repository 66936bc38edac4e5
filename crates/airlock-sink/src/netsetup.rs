//! `--setup-net`: turns the sink's fresh `--network none` namespace into a trap.
//! Behind a [`CommandRunner`] seam so the exact rule list is tested without root.
//!
//! Steps (all idempotent; run again, they leave the same state):
//!
//! ```text
//! ip link set lo up
//! ip addr replace <host_addr>/32 dev lo          # default 172.17.0.2; see below
//! ip route replace default dev lo src 127.0.0.1   # without src, UDP leaves from 0.0.0.0 and replies miss conntrack
//! iptables -t nat -N AIRLOCK                    # "already exists" is fine
//! iptables -t nat -F AIRLOCK
//! iptables -t nat -A AIRLOCK -p tcp [-m multiport ! --dports <passthrough>] -j REDIRECT --to-ports <tcp>
//! iptables -t nat -A AIRLOCK -p udp --dport 53 -j REDIRECT --to-ports <dns>
//! iptables -t nat -A AIRLOCK -p udp -j REDIRECT --to-ports <udp>      # when a UDP catch-all listens
//! iptables -t nat -C OUTPUT -j AIRLOCK || iptables -t nat -I OUTPUT 1 -j AIRLOCK
//! iptables -t filter -N AIRLOCK ; -F AIRLOCK
//! iptables -t filter -A AIRLOCK -o lo -j RETURN
//! iptables -t filter -A AIRLOCK -j DROP
//! iptables -t filter -C OUTPUT -j AIRLOCK || iptables -t filter -I OUTPUT 1 -j AIRLOCK
//! (the same with ip6tables; failures there are recorded and ignored, since IPv6 is
//!  normally disabled in the namespace)
//! ```
//!
//! Why a host address on `lo`: `getaddrinfo` with `AI_ADDRCONFIG` (used by many
//! clients) returns no IPv4 answers at all when the only IPv4 address is loopback, and
//! a machine with nothing but 127.0.0.1 is an obvious sandbox tell. A /32 adds just
//! that address.
//!
//! Why *every* TCP connection, loopback included: the namespace belongs to the sink, so
//! `127.0.0.1` inside it is not the host's loopback; the only legitimate listener on it
//! is the sink. Redirecting a connection aimed at the sink's own port to that same port
//! is a no-op, so no exception is needed for the sink. Replies of the sink's accepted
//! connections are not NEW conntrack entries and never pass the nat table; the sink
//! itself opens no outbound connections. So no owner match is needed either (and one on
//! uid 0 would be wrong: the sandbox's tracer runs as root in the same user namespace).
//! A package that runs its own server on loopback during install would have its
//! connections land on the sink instead; `--loopback-passthrough PORTS` exempts ports
//! for that (as `-m multiport ! --dports`, which then also applies to remote
//! destinations on those ports, which still cannot leave: the only route is `lo`).
//! Containment does not depend on the nat rules: the namespace has only `lo`, the
//! default route points at it, and the filter chain drops anything leaving by another
//! interface should one ever appear.

use std::process::Command;

/// Ports the rules point at.
#[derive(Debug, Clone, PartialEq)]
pub struct NetPorts {
    pub tcp: u16,
    pub dns: u16,
    pub udp: Option<u16>,
    /// TCP destination ports not redirected (a package's own loopback servers).
    pub passthrough: Vec<u16>,
    /// A non-loopback address given to `lo` (`None` to add none).
    pub host_addr: Option<std::net::Ipv4Addr>,
}

/// The address `--setup-net` gives the namespace by default (Docker's usual first one).
pub const DEFAULT_HOST_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(172, 17, 0, 2);

/// Runs one command; returns its success and stderr.
pub trait CommandRunner {
    fn run(&mut self, argv: &[String]) -> (bool, String);
}

/// Runs commands for real.
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&mut self, argv: &[String]) -> (bool, String) {
        let Some((prog, args)) = argv.split_first() else {
            return (false, "empty command".into());
        };
        match Command::new(prog).args(args).output() {
            Ok(out) => (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ),
            Err(e) => (false, format!("{prog}: {e}")),
        }
    }
}

/// One command and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub command: String,
    pub ok: bool,
    /// A failure that is expected or tolerated (e.g. chain exists, IPv6 disabled).
    pub tolerated: bool,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetSetupReport {
    pub steps: Vec<Step>,
    /// IPv4 rules all in place.
    pub ipv4_ok: bool,
    pub ipv6_ok: bool,
}

impl NetSetupReport {
    /// One line per step, for the trace and the log.
    pub fn lines(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                let state = if s.ok {
                    "ok"
                } else if s.tolerated {
                    "tolerated"
                } else {
                    "FAILED"
                };
                if s.error.is_empty() {
                    format!("[{state}] {}", s.command)
                } else {
                    format!("[{state}] {}: {}", s.command, s.error)
                }
            })
            .collect()
    }
}

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

struct Exec<'a, R: CommandRunner> {
    runner: &'a mut R,
    report: NetSetupReport,
}

impl<R: CommandRunner> Exec<'_, R> {
    fn run(&mut self, cmd: &str, tolerate: bool) -> bool {
        let (ok, err) = self.runner.run(&argv(cmd));
        self.report.steps.push(Step {
            command: cmd.to_string(),
            ok,
            tolerated: !ok && tolerate,
            error: if ok { String::new() } else { err },
        });
        ok
    }

    /// `-C` (check) first; insert only if missing.
    fn ensure_jump(&mut self, tool: &str, table: &str) -> bool {
        let check = format!("{tool} -t {table} -C OUTPUT -j AIRLOCK");
        if self.run(&check, true) {
            return true;
        }
        self.run(&format!("{tool} -t {table} -I OUTPUT 1 -j AIRLOCK"), false)
    }

    fn rules(&mut self, tool: &str, ports: &NetPorts) -> bool {
        let mut ok = true;
        for table in ["nat", "filter"] {
            self.run(&format!("{tool} -t {table} -N AIRLOCK"), true);
            ok &= self.run(&format!("{tool} -t {table} -F AIRLOCK"), false);
        }
        let pass = if ports.passthrough.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = ports.passthrough.iter().map(u16::to_string).collect();
            format!(" -m multiport ! --dports {}", list.join(","))
        };
        ok &= self.run(
            &format!(
                "{tool} -t nat -A AIRLOCK -p tcp{pass} -j REDIRECT --to-ports {}",
                ports.tcp
            ),
            false,
        );
        ok &= self.run(
            &format!(
                "{tool} -t nat -A AIRLOCK -p udp --dport 53 -j REDIRECT --to-ports {}",
                ports.dns
            ),
            false,
        );
        if let Some(udp) = ports.udp {
            // Everything else over UDP goes to the catch-all; the DNS port itself
            // (already redirected above) is not matched again.
            ok &= self.run(
                &format!("{tool} -t nat -A AIRLOCK -p udp -j REDIRECT --to-ports {udp}"),
                false,
            );
        }
        ok &= self.ensure_jump(tool, "nat");
        ok &= self.run(
            &format!("{tool} -t filter -A AIRLOCK -o lo -j RETURN"),
            false,
        );
        ok &= self.run(&format!("{tool} -t filter -A AIRLOCK -j DROP"), false);
        ok &= self.ensure_jump(tool, "filter");
        ok
    }
}

/// Sets up the namespace. IPv4 failures make `ipv4_ok` false (the caller should
/// refuse to report READY); IPv6 failures are tolerated and recorded.
pub fn setup_net<R: CommandRunner>(runner: &mut R, ports: &NetPorts) -> NetSetupReport {
    let mut exec = Exec {
        runner,
        report: NetSetupReport::default(),
    };
    let mut link = exec.run("ip link set lo up", false);
    if let Some(addr) = ports.host_addr {
        link &= exec.run(&format!("ip addr replace {addr}/32 dev lo"), false);
    }
    let route = exec.run("ip route replace default dev lo src 127.0.0.1", false);
    let v4 = exec.rules("iptables", ports);
    let start = exec.report.steps.len();
    let v6 = exec.rules("ip6tables", ports);
    for s in &mut exec.report.steps[start..] {
        if !s.ok {
            s.tolerated = true;
        }
    }
    exec.report.ipv4_ok = link && route && v4;
    exec.report.ipv6_ok = v6;
    exec.report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Simulates iptables state: chains, rules, and `-C` checks.
    #[derive(Default)]
    struct FakeNet {
        log: Vec<String>,
        chains: HashSet<String>,
        rules: Vec<String>,
        v6_broken: bool,
    }

    impl CommandRunner for FakeNet {
        fn run(&mut self, argv: &[String]) -> (bool, String) {
            let cmd = argv.join(" ");
            self.log.push(cmd.clone());
            if argv[0] == "ip6tables" && self.v6_broken {
                return (false, "can't initialize ip6tables table".into());
            }
            if argv[0] == "ip" {
                return (true, String::new());
            }
            let table = format!("{} {}", argv[0], argv[2]);
            match argv[3].as_str() {
                "-N" => (
                    self.chains.insert(format!("{table} {}", argv[4])),
                    "Chain already exists".into(),
                ),
                "-F" => {
                    let prefix = format!("{table} -A {} ", argv[4]);
                    self.rules.retain(|r| !r.starts_with(&prefix));
                    (true, String::new())
                }
                "-A" | "-I" => {
                    let rest = if argv[3] == "-I" {
                        argv[6..].join(" ")
                    } else {
                        argv[5..].join(" ")
                    };
                    self.rules.push(format!("{table} -A {} {rest}", argv[4]));
                    (true, String::new())
                }
                "-C" => {
                    let want = format!("{table} -A {} {}", argv[4], argv[5..].join(" "));
                    (self.rules.contains(&want), "Bad rule".into())
                }
                _ => (false, "unknown".into()),
            }
        }
    }

    #[test]
    fn rules_redirect_everything_and_are_idempotent() {
        let ports = NetPorts {
            tcp: 17080,
            dns: 17053,
            udp: Some(17054),
            passthrough: vec![],
            host_addr: Some(DEFAULT_HOST_ADDR),
        };
        let mut net = FakeNet::default();
        let r1 = setup_net(&mut net, &ports);
        assert!(r1.ipv4_ok && r1.ipv6_ok, "{:#?}", r1.lines());
        assert!(net
            .log
            .contains(&"ip addr replace 172.17.0.2/32 dev lo".to_string()));
        assert!(net
            .rules
            .contains(&"iptables nat -A AIRLOCK -p tcp -j REDIRECT --to-ports 17080".to_string()));
        assert!(net.rules.contains(
            &"iptables nat -A AIRLOCK -p udp --dport 53 -j REDIRECT --to-ports 17053".to_string()
        ));
        assert!(net
            .rules
            .contains(&"iptables filter -A AIRLOCK -j DROP".to_string()));
        let after_first = net.rules.clone();
        let r2 = setup_net(&mut net, &ports);
        assert!(r2.ipv4_ok);
        let mut a = after_first.clone();
        let mut b = net.rules.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "second run must leave the same rules");
        assert_eq!(
            net.rules
                .iter()
                .filter(|r| r.contains("OUTPUT -j AIRLOCK"))
                .count(),
            4
        );
        // DNS redirect precedes the UDP catch-all.
        let dns = net
            .rules
            .iter()
            .position(|r| r.contains("--dport 53"))
            .unwrap();
        let all = net
            .rules
            .iter()
            .position(|r| r.ends_with("-p udp -j REDIRECT --to-ports 17054"))
            .unwrap();
        assert!(dns < all);
    }

    #[test]
    fn ipv6_failure_is_tolerated_and_passthrough_is_honoured() {
        let ports = NetPorts {
            tcp: 1,
            dns: 2,
            udp: None,
            passthrough: vec![3000, 8080],
            host_addr: None,
        };
        let mut net = FakeNet {
            v6_broken: true,
            ..Default::default()
        };
        let r = setup_net(&mut net, &ports);
        assert!(r.ipv4_ok);
        assert!(!r.ipv6_ok);
        assert!(r
            .steps
            .iter()
            .filter(|s| s.command.starts_with("ip6tables"))
            .all(|s| s.tolerated));
        assert!(net
            .rules
            .iter()
            .any(|r| r.contains("-p tcp -m multiport ! --dports 3000,8080 -j REDIRECT")));
        assert!(!net.rules.iter().any(|r| r.contains("-p udp -j REDIRECT")));
    }
}

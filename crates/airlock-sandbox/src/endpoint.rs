//! Which Docker engine airlock talks to, decided the way the `docker` CLI decides it:
//! `DOCKER_HOST` (with `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`), else the context named by
//! `DOCKER_CONTEXT` or by `currentContext` in `$DOCKER_CONFIG/config.json` (default
//! `~/.docker`), else the local socket. It exists because bollard's "local defaults"
//! ignore a `tcp://` `DOCKER_HOST` and silently use the local socket — for someone who
//! isolates analysis on another engine, the worst failure. Whatever cannot be honoured
//! is refused with an error naming the setting; nothing falls back to another engine.
//!
//! Remote engines are refused too: a run bind-mounts files of this host into its
//! containers (the sink binary, the run CA, the CA bundle), which an engine on another
//! machine cannot see. A unix socket or a loopback TCP address is taken as this host.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bollard::Docker;

use crate::error::SandboxError;

/// The default socket of a local engine.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// bollard's request timeout (seconds) — long enough for image builds' requests.
const TIMEOUT_SECS: u64 = 120;

/// Client TLS material (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port` over TCP, with TLS when `tls` is set.
    Tcp {
        host: String,
        port: u16,
        tls: Option<TlsFiles>,
    },
}

/// The engine to use and which setting chose it (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: Address,
    /// The host string as configured (`unix:///…`, `tcp://…`).
    pub host: String,
    /// `DOCKER_HOST`, `context NAME (PATH)` or `default`.
    pub source: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source.as_str() {
            "DOCKER_HOST" => write!(f, "DOCKER_HOST={}", self.host),
            "default" => f.write_str(&self.host),
            s => write!(f, "{} (from {s})", self.host),
        }
    }
}

/// The environment the resolution reads (a seam for tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Endpoint {
    /// The endpoint the process environment selects.
    pub fn from_env() -> Result<Endpoint, SandboxError> {
        resolve(&ProcessEnv)
    }

    /// True for a unix socket or a loopback TCP address.
    pub fn is_local(&self) -> bool {
        match &self.address {
            Address::Unix(_) => true,
            Address::Tcp { host, .. } => {
                host.eq_ignore_ascii_case("localhost")
                    || host
                        .trim_matches(|c| c == '[' || c == ']')
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }

    fn refused(&self, reason: impl Into<String>) -> SandboxError {
        SandboxError::EngineRefused {
            endpoint: self.to_string(),
            reason: reason.into(),
        }
    }

    /// A bollard client for this endpoint (no request is made yet). Remote engines are
    /// refused here.
    pub fn client(&self) -> Result<Docker, SandboxError> {
        if !self.is_local() {
            return Err(self.refused(
                "this is a remote Docker engine; airlock bind-mounts files of this host into \
                 its containers (the network sink's binary, the run CA), which an engine on \
                 another machine cannot see. Run airlock on the engine's host, or point \
                 DOCKER_HOST at a local socket",
            ));
        }
        let version = bollard::API_DEFAULT_VERSION;
        let made = match &self.address {
            Address::Unix(path) => {
                Docker::connect_with_unix(&path.to_string_lossy(), TIMEOUT_SECS, version)
            }
            Address::Tcp {
                host,
                port,
                tls: None,
            } => Docker::connect_with_http(&format!("tcp://{host}:{port}"), TIMEOUT_SECS, version),
            Address::Tcp {
                host,
                port,
                tls: Some(t),
            } => {
                for f in [&t.ca, &t.cert, &t.key] {
                    if !f.is_file() {
                        return Err(self.refused(format!(
                            "TLS needs {}, which does not exist (ca.pem, cert.pem and key.pem \
                             in DOCKER_CERT_PATH or the context's TLS folder)",
                            f.display()
                        )));
                    }
                }
                Docker::connect_with_ssl(
                    &format!("tcp://{host}:{port}"),
                    &t.key,
                    &t.cert,
                    &t.ca,
                    TIMEOUT_SECS,
                    version,
                )
            }
        };
        made.map_err(|e| self.refused(e.to_string()))
    }
}

/// Resolves the engine as the `docker` CLI would.
pub fn resolve(env: &dyn Env) -> Result<Endpoint, SandboxError> {
    if let Some(host) = env.var("DOCKER_HOST") {
        let tls = env_tls(env, &host)?;
        return parse_host(&host, tls, "DOCKER_HOST");
    }
    let config_dir = match env.var("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d),
        None => match env.var("HOME") {
            Some(h) => Path::new(&h).join(".docker"),
            None => PathBuf::from("/nonexistent"),
        },
    };
    let context = match env.var("DOCKER_CONTEXT") {
        Some(c) => Some(c),
        None => current_context(&config_dir)?,
    };
    match context.as_deref() {
        None | Some("default") => parse_host(&format!("unix://{DEFAULT_SOCKET}"), None, "default"),
        Some(name) => context_endpoint(&config_dir, name),
    }
}

/// TLS from `DOCKER_TLS_VERIFY` / `DOCKER_TLS` / `DOCKER_CERT_PATH` (the CLI's rules:
/// any non-empty `DOCKER_TLS_VERIFY` means verified TLS).
fn env_tls(env: &dyn Env, host: &str) -> Result<Option<TlsFiles>, SandboxError> {
    let dir = || match env.var("DOCKER_CERT_PATH") {
        Some(d) => PathBuf::from(d),
        None => env
            .var("HOME")
            .map(|h| Path::new(&h).join(".docker"))
            .unwrap_or_else(|| PathBuf::from("/nonexistent")),
    };
    if env.var("DOCKER_TLS_VERIFY").is_some() {
        let d = dir();
        return Ok(Some(TlsFiles {
            ca: d.join("ca.pem"),
            cert: d.join("cert.pem"),
            key: d.join("key.pem"),
        }));
    }
    if env.var("DOCKER_TLS").is_some() {
        return Err(SandboxError::EngineRefused {
            endpoint: format!("DOCKER_HOST={host}"),
            reason: "DOCKER_TLS without DOCKER_TLS_VERIFY asks for TLS without checking the \
                     engine's certificate, which airlock does not do; set DOCKER_TLS_VERIFY=1 \
                     with ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH"
                .into(),
        });
    }
    Ok(None)
}

fn parse_host(host: &str, tls: Option<TlsFiles>, source: &str) -> Result<Endpoint, SandboxError> {
    let refuse = |reason: String| SandboxError::EngineRefused {
        endpoint: if source == "DOCKER_HOST" {
            format!("DOCKER_HOST={host}")
        } else {
            format!("{host} (from {source})")
        },
        reason,
    };
    let (scheme, rest) = host
        .split_once("://")
        .ok_or_else(|| refuse("not a URL: expected unix:///PATH or tcp://HOST:PORT".into()))?;
    let address = match scheme {
        "unix" => {
            if tls.is_some() {
                tracing::debug!("DOCKER_TLS_VERIFY has no meaning for a unix socket");
            }
            if !rest.starts_with('/') {
                return Err(refuse("a unix socket needs an absolute path".into()));
            }
            Address::Unix(PathBuf::from(rest))
        }
        "tcp" | "http" | "https" => {
            let authority = rest.split('/').next().unwrap_or_default();
            let tls = match (scheme, tls) {
                ("https", None) => {
                    return Err(refuse(
                        "https:// needs DOCKER_TLS_VERIFY=1 and client certificates in \
                         DOCKER_CERT_PATH"
                            .into(),
                    ))
                }
                (_, tls) => tls,
            };
            let default_port = if tls.is_some() { 2376 } else { 2375 };
            let (h, port) = split_host_port(authority, default_port)
                .ok_or_else(|| refuse(format!("cannot read host and port from {authority:?}")))?;
            Address::Tcp { host: h, port, tls }
        }
        "ssh" => {
            return Err(refuse(
                "ssh:// engines are not supported; run airlock on the engine's host".into(),
            ))
        }
        other => {
            return Err(refuse(format!(
                "the {other}:// scheme is not supported (unix:// and tcp:// are)"
            )))
        }
    };
    Ok(Endpoint {
        address,
        host: host.to_string(),
        source: source.to_string(),
    })
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() {
        return None;
    }
    // [v6]:port, [v6], host:port, host
    if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((format!("[{h}]"), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority.to_string(), default_port)),
    }
}

/// `currentContext` of `config.json`, if any.
fn current_context(config_dir: &Path) -> Result<Option<String>, SandboxError> {
    let path = config_dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SandboxError::Io { path, source: e }),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| SandboxError::EngineRefused {
            endpoint: format!("the Docker CLI configuration {}", path.display()),
            reason: format!("cannot be read: {e}"),
        })?;
    Ok(v.get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(String::from))
}

/// The docker endpoint of context `name`: `contexts/meta/<sha256(name)>/meta.json`,
/// TLS files in `contexts/tls/<sha256(name)>/docker/`.
fn context_endpoint(config_dir: &Path, name: &str) -> Result<Endpoint, SandboxError> {
    use sha2::Digest;
    let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let meta = config_dir.join("contexts/meta").join(&id).join("meta.json");
    let refuse = |reason: String| SandboxError::EngineRefused {
        endpoint: format!("Docker context {name:?} ({})", meta.display()),
        reason,
    };
    let text = std::fs::read_to_string(&meta).map_err(|e| {
        refuse(format!(
            "cannot be read ({e}); `docker context ls` lists the contexts"
        ))
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| refuse(format!("is not valid JSON: {e}")))?;
    let docker = &v["Endpoints"]["docker"];
    let host = docker["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| refuse("has no Endpoints.docker.Host".into()))?;
    if docker["SkipTLSVerify"].as_bool() == Some(true) {
        return Err(refuse(
            "asks to skip TLS verification (SkipTLSVerify), which airlock does not do".into(),
        ));
    }
    let tls_dir = config_dir.join("contexts/tls").join(&id).join("docker");
    let tls = tls_dir.is_dir().then(|| TlsFiles {
        ca: tls_dir.join("ca.pem"),
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    parse_host(host, tls, &format!("context {name:?}, {}", meta.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, String>);

    impl Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned().filter(|v| !v.is_empty())
        }
    }

    fn env(pairs: &[(&'static str, &str)]) -> Vars {
        Vars(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    fn err(r: Result<Endpoint, SandboxError>) -> String {
        r.expect_err("should be refused").to_string()
    }

    #[test]
    fn docker_host_forms() {
        let e = resolve(&env(&[("DOCKER_HOST", "unix:///run/x.sock")])).unwrap();
        assert_eq!(e.address, Address::Unix("/run/x.sock".into()));
        assert!(e.is_local());
        let e = resolve(&env(&[("DOCKER_HOST", "tcp://127.0.0.1:1")])).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
                tls: None
            }
        );
        assert!(e.is_local());
        assert_eq!(e.to_string(), "DOCKER_HOST=tcp://127.0.0.1:1");
        let e = resolve(&env(&[("DOCKER_HOST", "tcp://[::1]")])).unwrap();
        assert!(e.is_local());
        assert!(matches!(e.address, Address::Tcp { port: 2375, .. }));
        let e = resolve(&env(&[("DOCKER_HOST", "tcp://build.example:2376")])).unwrap();
        assert!(!e.is_local());
        let msg = e.client().expect_err("remote refused").to_string();
        assert!(
            msg.contains("DOCKER_HOST=tcp://build.example:2376") && msg.contains("remote"),
            "{msg}"
        );
        assert!(err(resolve(&env(&[("DOCKER_HOST", "ssh://me@host")]))).contains("ssh://"));
        assert!(err(resolve(&env(&[("DOCKER_HOST", "npipe:////./pipe/x")]))).contains("npipe"));
        assert!(err(resolve(&env(&[("DOCKER_HOST", "127.0.0.1:2375")]))).contains("not a URL"));
    }

    #[test]
    fn tls_from_the_environment() {
        let e = resolve(&env(&[
            ("DOCKER_HOST", "tcp://localhost"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ]))
        .unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "localhost".into(),
                port: 2376,
                tls: Some(TlsFiles {
                    ca: "/certs/ca.pem".into(),
                    cert: "/certs/cert.pem".into(),
                    key: "/certs/key.pem".into(),
                })
            }
        );
        // the files are missing: refused, naming the file, never plain HTTP
        let msg = e.client().expect_err("missing certs").to_string();
        assert!(msg.contains("/certs/ca.pem"), "{msg}");
        let e = resolve(&env(&[
            ("DOCKER_HOST", "tcp://localhost:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("HOME", "/home/u"),
        ]))
        .unwrap();
        assert!(
            matches!(e.address, Address::Tcp { tls: Some(TlsFiles { ref ca, .. }), .. } if ca == Path::new("/home/u/.docker/ca.pem"))
        );
        let msg = err(resolve(&env(&[
            ("DOCKER_HOST", "tcp://localhost:2376"),
            ("DOCKER_TLS", "1"),
        ])));
        assert!(msg.contains("DOCKER_TLS_VERIFY"), "{msg}");
    }

    fn write_context(config: &Path, name: &str, host: &str, skip: bool) {
        use sha2::Digest;
        let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
        let dir = config.join("contexts/meta").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let meta = serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
        });
        std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    }

    #[test]
    fn contexts() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join(".docker");
        std::fs::create_dir_all(&config).unwrap();
        let h = home.path().to_str().unwrap().to_string();
        // no config.json: the default socket
        let e = resolve(&env(&[("HOME", &h)])).unwrap();
        assert_eq!(e.address, Address::Unix(DEFAULT_SOCKET.into()));
        write_context(&config, "lab", "unix:///run/lab.sock", false);
        write_context(&config, "far", "tcp://10.9.8.7:2376", false);
        write_context(&config, "lax", "tcp://127.0.0.1:2376", true);
        std::fs::write(config.join("config.json"), r#"{"currentContext":"lab"}"#).unwrap();
        let e = resolve(&env(&[("HOME", &h)])).unwrap();
        assert_eq!(e.address, Address::Unix("/run/lab.sock".into()));
        assert!(e.to_string().contains("context \"lab\""), "{e}");
        // DOCKER_CONTEXT beats config.json, DOCKER_HOST beats both
        let e = resolve(&env(&[("HOME", &h), ("DOCKER_CONTEXT", "far")])).unwrap();
        assert!(!e.is_local());
        let msg = e.client().expect_err("remote").to_string();
        assert!(
            msg.contains("tcp://10.9.8.7:2376") && msg.contains("far"),
            "{msg}"
        );
        let e = resolve(&env(&[
            ("HOME", &h),
            ("DOCKER_CONTEXT", "far"),
            ("DOCKER_HOST", "unix:///x.sock"),
        ]))
        .unwrap();
        assert_eq!(e.address, Address::Unix("/x.sock".into()));
        assert!(
            err(resolve(&env(&[("HOME", &h), ("DOCKER_CONTEXT", "lax")])))
                .contains("SkipTLSVerify")
        );
        assert!(
            err(resolve(&env(&[("HOME", &h), ("DOCKER_CONTEXT", "nope")]))).contains("\"nope\"")
        );
        // "default" is the local socket; DOCKER_CONFIG moves the folder
        let e = resolve(&env(&[("HOME", &h), ("DOCKER_CONTEXT", "default")])).unwrap();
        assert_eq!(e.address, Address::Unix(DEFAULT_SOCKET.into()));
        let e = resolve(&env(&[
            ("HOME", "/nonexistent"),
            ("DOCKER_CONFIG", config.to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(e.address, Address::Unix("/run/lab.sock".into()));
        // a context with TLS files uses them
        use sha2::Digest;
        let id = hex::encode(sha2::Sha256::digest(b"far"));
        std::fs::create_dir_all(config.join("contexts/tls").join(&id).join("docker")).unwrap();
        let e = resolve(&env(&[("HOME", &h), ("DOCKER_CONTEXT", "far")])).unwrap();
        assert!(matches!(
            e.address,
            Address::Tcp {
                tls: Some(_),
                port: 2376,
                ..
            }
        ));
    }
}

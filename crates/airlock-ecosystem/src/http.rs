//! The one HTTP client of the whole project: every download and API call airlock makes
//! from the host (npm and PyPI fetches, `diff`'s packuments, the proxy's upstream, the
//! service's webhooks, the pip wrapper's downloads) goes through [`client`].
//!
//! It exists so that an operator's intent is honoured in one place (issue 19): TLS trusts
//! the system store (`rustls-native-certs`: `/etc/ssl/certs`, or exactly
//! `$SSL_CERT_FILE` / `$SSL_CERT_DIR` when set — a TLS-inspecting proxy's CA) plus the
//! bundled web PKI roots; `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (either case) send
//! requests through a proxy unless `NO_PROXY` names the host; loopback is always direct.
//! The wrappers add the package manager's own CA setting (pip's `cert`, npm's `cafile`)
//! with [`trust_extra_ca_files`]: one client still, with one more input.
//!
//! ureq 2 fixes redirects and the proxy per agent, so [`Client`] holds the few agents
//! those combinations need, all made by one builder from one TLS configuration.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The user agent of every request.
pub const USER_AGENT: &str = concat!("airlock/", env!("CARGO_PKG_VERSION"));

/// Proxy and redirect variants of one agent configuration.
#[derive(Debug)]
pub struct Client {
    follow: Agents,
    no_follow: Agents,
    no_proxy: NoProxy,
}

#[derive(Debug)]
struct Agents {
    direct: ureq::Agent,
    /// For `https:` URLs.
    https: Option<ureq::Agent>,
    /// For `http:` URLs.
    http: Option<ureq::Agent>,
}

/// The process-wide client, built from the environment on first use.
pub fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| Client::from_env(|k| std::env::var(k).ok()))
}

/// The one TLS configuration (system store or `SSL_CERT_FILE`/`SSL_CERT_DIR`, plus the
/// web PKI roots), shared by every agent.
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    TLS.get_or_init(build_tls).clone()
}

static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// CA certificate files the operator gave a package manager (pip's `cert`, npm's
/// `cafile`), trusted by [`tls_config`] as well. Set by the wrappers before the first
/// request, through [`trust_extra_ca_files`].
static EXTRA_CA: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Trusts the PEM certificates in `files` too, in the one TLS configuration: the wrappers
/// pass the package manager's own CA setting (pip's `cert` / `PIP_CERT`, npm's `cafile`)
/// so airlock's downloads trust what the operator told the package manager to trust.
/// Returns how many certificates were read. Errors when a file cannot be read or holds
/// no certificate, or when the client was already built (call it before any request).
pub fn trust_extra_ca_files(files: &[PathBuf]) -> Result<usize, crate::RegistryError> {
    let mut n = 0;
    for f in files {
        n += read_pem_certs(f)?.len();
    }
    if TLS.get().is_some() || EXTRA_CA.set(files.to_vec()).is_err() {
        return Err(crate::RegistryError::Input(
            "the TLS configuration was built before the extra CA certificates were given".into(),
        ));
    }
    Ok(n)
}

/// The extra CA files given with [`trust_extra_ca_files`] (the host-side npm and pip
/// runs get them as `--cafile` / `--cert`).
pub fn extra_ca_files() -> &'static [PathBuf] {
    EXTRA_CA.get().map(Vec::as_slice).unwrap_or_default()
}

fn read_pem_certs(
    path: &Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, crate::RegistryError> {
    use rustls_pki_types::pem::PemObject;
    let bad = |message: String| crate::RegistryError::BadArtifact {
        path: path.to_path_buf(),
        message,
    };
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn build_tls() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "a system certificate could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "TLS roots from the system store");
    for f in extra_ca_files() {
        match read_pem_certs(f) {
            Ok(certs) => {
                let (added, ignored) = roots.add_parsable_certificates(certs);
                tracing::debug!(file = %f.display(), added, ignored, "extra TLS roots");
            }
            Err(e) => tracing::warn!(error = %e, "an extra CA file could not be read"),
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        // ring supports the safe default versions; this cannot fail in practice.
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
    Arc::new(cfg)
}

impl Client {
    /// A client from environment variables (`var("HTTPS_PROXY")` …); `from_env` with
    /// a closure keeps tests free of the process environment.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Client {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
        };
        let all = get(&["ALL_PROXY", "all_proxy"]);
        let https = get(&["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone());
        let http = get(&["HTTP_PROXY", "http_proxy"]).or(all);
        let no_proxy = NoProxy::parse(&get(&["NO_PROXY", "no_proxy"]).unwrap_or_default());
        let agents = |redirects: u32| Agents {
            direct: builder(redirects).build(),
            https: https.as_deref().and_then(|p| proxied(redirects, p)),
            http: http.as_deref().and_then(|p| proxied(redirects, p)),
        };
        Client {
            follow: agents(5),
            no_follow: agents(0),
            no_proxy,
        }
    }

    /// The agent for `url` (redirects followed).
    pub fn agent_for(&self, url: &str) -> &ureq::Agent {
        self.pick(&self.follow, url)
    }

    /// The agent for `url` that never follows a redirect (the proxy's upstream, where a
    /// redirect is the upstream's answer to pass on; webhooks).
    pub fn agent_no_redirect_for(&self, url: &str) -> &ureq::Agent {
        self.pick(&self.no_follow, url)
    }

    /// `GET url`, redirects followed.
    pub fn get(&self, url: &str) -> ureq::Request {
        self.agent_for(url).get(url)
    }

    /// `POST url`, redirects never followed.
    pub fn post_no_redirect(&self, url: &str) -> ureq::Request {
        self.agent_no_redirect_for(url).post(url)
    }

    /// Whether a request to `url` goes through a proxy.
    pub fn proxied(&self, url: &str) -> bool {
        !std::ptr::eq(self.pick(&self.follow, url), &self.follow.direct)
    }

    fn pick<'a>(&self, agents: &'a Agents, url: &str) -> &'a ureq::Agent {
        let Ok(u) = url::Url::parse(url) else {
            return &agents.direct;
        };
        let host = u.host_str().unwrap_or_default();
        if is_loopback(host) || self.no_proxy.matches(host) {
            return &agents.direct;
        }
        let proxy = match u.scheme() {
            "https" => agents.https.as_ref(),
            "http" => agents.http.as_ref(),
            _ => None,
        };
        proxy.unwrap_or(&agents.direct)
    }
}

/// `GET url` into memory, refusing a body larger than `max` bytes; `what` names the
/// thing in that error (`tarball`, `artifact`). Errors are (url, message).
pub fn download(url: &str, max: u64, what: &str) -> Result<Vec<u8>, crate::RegistryError> {
    use std::io::Read;
    let err = |message: String| crate::RegistryError::Http {
        url: url.into(),
        message,
    };
    let resp = client().get(url).call().map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(err(format!("{what} larger than {} MiB", max >> 20)));
    }
    Ok(bytes)
}

fn builder(redirects: u32) -> ureq::AgentBuilder {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout(Duration::from_secs(300))
        .redirects(redirects)
        .user_agent(USER_AGENT)
        .tls_config(tls_config())
}

fn proxied(redirects: u32, proxy: &str) -> Option<ureq::Agent> {
    match ureq::Proxy::new(proxy) {
        Ok(p) => Some(builder(redirects).proxy(p).build()),
        Err(e) => {
            tracing::warn!(%proxy, error = %e, "proxy setting ignored: not a proxy URL");
            None
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `NO_PROXY`: comma-separated hosts; `*` for all; `example.com` and `.example.com`
/// match the domain and its subdomains; a port suffix is ignored.
#[derive(Debug, Default)]
struct NoProxy {
    all: bool,
    hosts: Vec<String>,
}

impl NoProxy {
    fn parse(s: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                out.all = true;
                continue;
            }
            let host = match item.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
                _ => item,
            };
            out.hosts
                .push(host.trim_start_matches('.').to_ascii_lowercase());
        }
        out
    }

    fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.to_ascii_lowercase();
        self.hosts.iter().any(|h| {
            host == *h
                || host
                    .strip_suffix(h.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn proxy_from_env_honours_no_proxy_and_loopback() {
        let c = Client::from_env(env(&[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            (
                "no_proxy",
                "internal.corp, .example.org,registry.local:8443",
            ),
        ]));
        assert!(c.proxied("https://pypi.org/simple/"));
        assert!(!c.proxied("http://pypi.org/simple/"), "no HTTP_PROXY set");
        assert!(!c.proxied("https://internal.corp/x"));
        assert!(!c.proxied("https://a.b.internal.corp/x"));
        assert!(!c.proxied("https://example.org/x"));
        assert!(!c.proxied("https://www.example.org/x"));
        assert!(c.proxied("https://notexample.org/x"));
        assert!(!c.proxied("https://registry.local/x"));
        assert!(!c.proxied("https://127.0.0.1:8080/x"));
        assert!(!c.proxied("https://localhost/x"));
        assert!(!c.proxied("https://[::1]:9/x"));
    }

    #[test]
    fn all_proxy_and_star() {
        let c = Client::from_env(env(&[("ALL_PROXY", "http://p:1")]));
        assert!(c.proxied("http://a.b/"));
        assert!(c.proxied("https://a.b/"));
        let c = Client::from_env(env(&[("HTTP_PROXY", "http://p:1"), ("NO_PROXY", "*")]));
        assert!(!c.proxied("http://a.b/"));
        let c = Client::from_env(env(&[]));
        assert!(!c.proxied("https://a.b/"));
    }
}

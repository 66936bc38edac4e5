//! End-to-end test of issue 19's "the operator's intent is honoured": on a machine whose
//! HTTPS goes through an inspecting proxy, the package managers are told about the
//! proxy's CA in their own settings (pip's `cert`, npm's `cafile`), and `airlock pip
//! install` / `airlock npm install` must trust it too. Here the registry and the index
//! are served on loopback over TLS with a certificate from a private CA made in the test,
//! and the CA is given only through those settings — not the system store, not
//! `SSL_CERT_FILE`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "localreg.rs"]
mod localreg;

use std::path::Path;
use std::sync::Arc;

use common::*;
use localreg::*;

/// A private CA and a leaf for `localhost` / 127.0.0.1 it signed: (CA PEM, leaf PEM,
/// leaf key PEM).
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Corp Inspecting Proxy CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem())
}

/// A TLS front on 127.0.0.1 for the plain HTTP server at `backend` (`http://host:port`),
/// presenting `cert_pem`; returns `https://localhost:PORT`.
fn tls_front(backend: &str, cert_pem: &str, key_pem: &str) -> String {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let backend = backend.trim_start_matches("http://").to_string();
    let port = tls_proxy(config, move || {
        tokio::net::TcpStream::connect(backend.clone())
    });
    format!("https://localhost:{port}")
}

/// An npm environment with nothing from the user's own set-up: an empty user config, a
/// private cache. The registry and the CA come from the project's .npmrc only.
fn bare_npm_env(dir: &Path) -> Vec<(String, String)> {
    let userconfig = dir.join("user-npmrc");
    std::fs::write(&userconfig, "").unwrap();
    vec![
        (
            "npm_config_userconfig".into(),
            userconfig.display().to_string(),
        ),
        (
            "npm_config_cache".into(),
            dir.join("npm-cache").display().to_string(),
        ),
        ("npm_config_audit".into(), "false".into()),
        ("npm_config_fund".into(), "false".into()),
        ("npm_config_update_notifier".into(), "false".into()),
    ]
}

/// Before: airlock's own downloads trusted only the system store, so behind an
/// inspecting proxy `airlock npm install` failed with `UnknownIssuer` while npm itself
/// worked. Now npm's `cafile` is trusted by airlock's one HTTP client (and given to the
/// host-side npm resolution).
#[test]
fn npm_wrapper_trusts_npms_cafile() {
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca();
    let ca_file = tmp.path().join("corp-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let reg = Registry::start();
    let https = tls_front(&reg.url, &cert, &key);
    reg.set_public_url(&https);
    reg.publish(&pack(&repo().join("examples/benign/plain-lib"), |_| {}));
    let project = tmp.path().join("app");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"plain-lib":"^1.0.0"}}"#,
    )
    .unwrap();
    std::fs::write(
        project.join(".npmrc"),
        format!("registry={https}/\ncafile={}\n", ca_file.display()),
    )
    .unwrap();
    let out = airlock()
        .current_dir(&project)
        .env_remove("CI")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("AIRLOCK_NPM_REGISTRY")
        .envs(bare_npm_env(tmp.path()))
        .args([
            "npm",
            "--store",
            tmp.path().join("store.sqlite3").to_str().unwrap(),
            "install",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        project
            .join("node_modules/plain-lib/package.json")
            .is_file(),
        "{stderr}"
    );
    // airlock itself fetched the tarball through the TLS front (its own user agent).
    let agents = reg.agents();
    assert!(
        agents
            .iter()
            .any(|(path, ua)| path.contains("/-/plain-lib-1.0.0.tgz") && ua.starts_with("airlock/")),
        "{agents:?}"
    );
}

/// The same for pip: the CA is only in `PIP_CERT` (pip's own setting), the index only in
/// `--index-url`. (`CURL_CA_BUNDLE`/`REQUESTS_CA_BUNDLE` are removed: requests lets them
/// override pip's `cert`, and CI machines set them to the system bundle.)
#[test]
fn pip_wrapper_trusts_pips_cert() {
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca();
    let ca_file = tmp.path().join("corp-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let (file, bytes) = wheel(
        tmp.path(),
        "ca-pyclean",
        "1.0.0",
        &[],
        &[("ca_pyclean/__init__.py", "VALUE = 42\n")],
    );
    let index = simple_index(&[("ca-pyclean", file, bytes)]);
    let https = tls_front(&index.url, &cert, &key);
    let venv = tmp.path().join("venv");
    let st = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(st.success());
    let pip = venv.join("bin/pip");
    let out = airlock()
        .current_dir(tmp.path())
        .env_remove("CI")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_CERT", &ca_file)
        .env("PIP_CACHE_DIR", tmp.path().join("pip-cache"))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .args([
            "pip",
            "--store",
            tmp.path().join("store.sqlite3").to_str().unwrap(),
            "--real",
            pip.to_str().unwrap(),
            "--pypi-index",
            &https,
        ])
        .args([
            "install",
            "ca-pyclean==1.0.0",
            "--index-url",
            &format!("{https}/simple"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let shown = std::process::Command::new(&pip)
        .args(["show", "ca-pyclean"])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{stderr}");
}

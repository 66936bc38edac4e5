//! The per-run certificate authority. [`generate_ca`] runs on the host (the orchestrator
//! mounts the PEMs into the sink and installs the certificate in the sandbox's trust
//! stores); [`CertAuthority`] runs in the sink and issues, per server name, a leaf
//! certificate signed by that CA (cached), so the sink can terminate TLS for any name
//! the package connects to. The key never leaves the run: a new CA is made per run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use crate::SinkError;

/// A CA certificate and its private key, PEM encoded.
#[derive(Debug, Clone)]
pub struct CaPair {
    pub cert_pem: String,
    pub key_pem: String,
}

fn validity(params: &mut CertificateParams, days_before: i64, days_after: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(days_before);
    params.not_after = now + time::Duration::days(days_after);
}

/// The CA's subject: what a company's TLS-inspecting proxy calls its root (issue 16: a
/// CA named after the tool, made yesterday, told every HTTPS client it was watched).
pub const CA_COMMON_NAME: &str = "Northwind Labs TLS Inspection Root CA";
pub const CA_ORGANIZATION: &str = "Northwind Labs";
pub const CA_UNIT: &str = "Network Security";

/// Makes a fresh CA for one run; `run_id` is its serial number (when hex), so a stray
/// certificate can still be traced back to its run.
pub fn generate_ca(run_id: &str) -> Result<CaPair, SinkError> {
    let key = KeyPair::generate().map_err(|e| SinkError::Tls(format!("CA key: {e}")))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    dn.push(DnType::OrganizationalUnitName, CA_UNIT);
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    if let Ok(bytes) = hex::decode(run_id) {
        if !bytes.is_empty() && bytes.len() <= 20 {
            params.serial_number = Some(rcgen::SerialNumber::from_slice(&bytes));
        }
    }
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // An established root: issued years ago, valid for years.
    validity(&mut params, 3 * 365 + 41, 7 * 365);
    let cert = params
        .self_signed(&key)
        .map_err(|e| SinkError::Tls(format!("CA certificate: {e}")))?;
    Ok(CaPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Leaf configurations cached (a few KiB each).
const MAX_CACHED_LEAVES: usize = 4096;

/// Issues and caches leaf certificates signed by the run's CA.
pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    cache: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl CertAuthority {
    pub fn from_pair(pair: &CaPair) -> Result<CertAuthority, SinkError> {
        let key = KeyPair::from_pem(&pair.key_pem)
            .map_err(|e| SinkError::Tls(format!("CA key PEM: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&pair.cert_pem, key)
            .map_err(|e| SinkError::Tls(format!("CA certificate PEM: {e}")))?;
        let ca_der = rustls_pemfile_cert(&pair.cert_pem)?;
        Ok(CertAuthority {
            issuer,
            ca_der,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The rustls server config presenting a leaf for `name` (a DNS name or an IP
    /// literal), offering only `http/1.1` by ALPN.
    pub fn server_config(&self, name: &str) -> Result<Arc<ServerConfig>, SinkError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(&name) {
                return Ok(c.clone());
            }
        }
        let key =
            KeyPair::generate().map_err(|e| SinkError::Tls(format!("leaf key for {name}: {e}")))?;
        let mut params = CertificateParams::new(vec![name.clone()])
            .map_err(|e| SinkError::Tls(format!("leaf params for {name}: {e}")))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.clone());
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, 1, 30);
        let leaf = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| SinkError::Tls(format!("signing leaf for {name}: {e}")))?;
        let chain = vec![leaf.der().clone(), self.ca_der.clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SinkError::Tls(format!("tls versions: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| SinkError::Tls(format!("server config for {name}: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        if let Ok(mut cache) = self.cache.lock() {
            // A flood of names must not grow the cache without bound: start over.
            if cache.len() >= MAX_CACHED_LEAVES {
                cache.clear();
            }
            cache.insert(name, config.clone());
        }
        Ok(config)
    }
}

/// The DER of the first CERTIFICATE block of a PEM string.
fn rustls_pemfile_cert(pem: &str) -> Result<CertificateDer<'static>, SinkError> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| SinkError::Tls(format!("CA certificate PEM: {e}")))?;
    if der.is_empty() {
        return Err(SinkError::Tls(
            "CA certificate PEM holds no certificate".into(),
        ));
    }
    Ok(CertificateDer::from(der))
}

/// DER of the CA certificate in `pair`, for building a client trust store (tests,
/// orchestrator checks).
pub fn ca_der(pair: &CaPair) -> Result<CertificateDer<'static>, SinkError> {
    rustls_pemfile_cert(&pair.cert_pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: the root every HTTPS client sees names no tool and still carries the
    /// run (its serial number).
    #[test]
    fn ca_looks_like_a_corporate_inspection_root() {
        use base64::Engine as _;
        let pair = generate_ca("0b00e1ac99de").unwrap();
        let b64: String = pair
            .cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(has(CA_COMMON_NAME.as_bytes()));
        assert!(has(CA_ORGANIZATION.as_bytes()));
        assert!(!has(b"airlock") && !has(b"sandbox"));
        // serial INTEGER 0b00e1ac99de
        assert!(has(&[0x02, 0x06, 0x0b, 0x00, 0xe1, 0xac, 0x99, 0xde]));
    }

    #[test]
    fn ca_is_fresh_per_run_and_issues_cached_leaves() {
        let a = generate_ca("run-a").unwrap();
        let b = generate_ca("run-b").unwrap();
        assert_ne!(a.cert_pem, b.cert_pem);
        assert!(a.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(a.key_pem.contains("PRIVATE KEY"));
        let ca = CertAuthority::from_pair(&a).unwrap();
        let c1 = ca.server_config("Example.COM").unwrap();
        let c2 = ca.server_config("example.com").unwrap();
        assert!(Arc::ptr_eq(&c1, &c2));
        let c3 = ca.server_config("198.18.0.7").unwrap();
        assert!(!Arc::ptr_eq(&c1, &c3));
        assert_eq!(c1.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn bad_pem_is_an_error() {
        let pair = CaPair {
            cert_pem: "nope".into(),
            key_pem: "nope".into(),
        };
        assert!(matches!(
            CertAuthority::from_pair(&pair),
            Err(SinkError::Tls(_))
        ));
    }
}

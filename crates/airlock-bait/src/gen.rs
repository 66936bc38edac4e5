//! Generators for format-correct fake secrets. Each function draws from the caller's
//! random source, so a run's bait is unpredictable (the public [`crate::plan`] seeds from
//! the OS) while tests can use a seeded generator. No value embeds the run id or
//! anything else an attacker could guess.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;

pub(crate) const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The alphabet AWS access key ids use after their prefix.
const AWS_ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";
const DIGITS: &[u8] = b"0123456789";

/// `n` characters drawn uniformly from `alphabet`.
pub(crate) fn chars<R: Rng + ?Sized>(rng: &mut R, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

pub(crate) fn base62<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    chars(rng, BASE62, n)
}

pub(crate) fn hex<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    chars(rng, HEX, n)
}

/// A decimal number of exactly `n` digits (no leading zero).
pub(crate) fn digits<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    let first = char::from(b'1' + rng.random_range(0..9u8));
    let mut s = String::with_capacity(n);
    s.push(first);
    s.push_str(&chars(rng, DIGITS, n.saturating_sub(1)));
    s
}

pub(crate) fn bytes<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v[..]);
    v
}

pub(crate) fn uuid<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!(
        "{}-{}-4{}-{}{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 3),
        char::from(b"89ab"[rng.random_range(0..4)]),
        hex(rng, 3),
        hex(rng, 12)
    )
}

/// npm automation/publish token: `npm_` + 36 base62.
pub fn npm_token<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("npm_{}", base62(rng, 36))
}

/// GitHub token with the given prefix (`ghp` personal, `ghs` Actions, `gho` OAuth):
/// prefix, `_`, 36 base62.
pub fn github_token<R: Rng + ?Sized>(rng: &mut R, prefix: &str) -> String {
    format!("{prefix}_{}", base62(rng, 36))
}

/// AWS access key id: `AKIA` (long-term) or `ASIA` (temporary) + 16 of `[A-Z2-7]`.
pub fn aws_access_key_id<R: Rng + ?Sized>(rng: &mut R, prefix: &str) -> String {
    format!("{prefix}{}", chars(rng, AWS_ID, 16))
}

/// AWS secret access key: 40 characters of base64's alphabet.
pub fn aws_secret_access_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    chars(rng, BASE64, 40)
}

/// AWS STS session token: base64 that starts like the real ones (`IQoJb3JpZ2luX2Vj`,
/// the encoding of a protobuf header with `origin_ec`), then random.
pub fn aws_session_token<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut raw = b"!\n\torigin_ec".to_vec();
    raw.extend(bytes(rng, 280));
    STANDARD.encode(raw)
}

/// OpenAI-style project key: `sk-proj-` + 48 + `T3BlbkFJ` + 48 of base64url.
pub fn openai_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!(
        "sk-proj-{}T3BlbkFJ{}",
        chars(rng, BASE64URL, 48),
        chars(rng, BASE64URL, 48)
    )
}

/// Anthropic-style key: `sk-ant-api03-` + 93 of base64url + `AA`.
pub fn anthropic_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("sk-ant-api03-{}AA", chars(rng, BASE64URL, 93))
}

/// Database password: 24 base62 (URL-safe without escaping).
pub fn db_password<R: Rng + ?Sized>(rng: &mut R) -> String {
    base62(rng, 24)
}

/// Stripe-style live secret key: `sk_live_` + 48 base62.
pub fn stripe_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("sk_live_{}", base62(rng, 48))
}

/// Docker Hub personal access token: `dckr_pat_` + 27 of base64url.
pub fn docker_pat<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("dckr_pat_{}", chars(rng, BASE64URL, 27))
}

/// PyPI API token: `pypi-AgEIcHlwaS5vcmc` (the macaroon's fixed start) + base64url.
pub fn pypi_token<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!(
        "pypi-AgEIcHlwaS5vcmc{}",
        URL_SAFE_NO_PAD.encode(bytes(rng, 120))
    )
}

/// Google OAuth access token as GCP metadata serves it: `ya29.` + base64url.
pub fn gcp_token<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("ya29.c.{}", chars(rng, BASE64URL, 160))
}

/// A JWT-shaped token (RS256 header, claims with `extra` fields, random signature).
pub fn jwt<R: Rng + ?Sized>(rng: &mut R, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5t": URL_SAFE_NO_PAD.encode(bytes(rng, 20)), "kid": hex(rng, 40).to_uppercase()});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(bytes(rng, 256))
    )
}

/// BIP32 extended private key: `xprv` + 107 base58 (111 characters in all).
pub fn xprv<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("xprv9s21ZrQH143K{}", chars(rng, BASE58, 95))
}

/// BIP32 extended public key: `xpub` + 107 base58.
pub fn xpub<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("xpub661MyMwAqRbc{}", chars(rng, BASE58, 95))
}

/// A fake MetaMask vault (the JSON `KeyringController.vault` holds): returns the vault
/// JSON text and its `data` field, which is the distinctive part.
pub fn metamask_vault<R: Rng + ?Sized>(rng: &mut R) -> (String, String) {
    let data = STANDARD.encode(bytes(rng, 258));
    let vault = serde_json::json!({
        "data": data,
        "iv": STANDARD.encode(bytes(rng, 16)),
        "keyMetadata": {"algorithm": "PBKDF2", "params": {"iterations": 600000}},
        "salt": STANDARD.encode(bytes(rng, 32)),
    });
    (vault.to_string(), data)
}

/// An OpenSSH ed25519 private key file, its `.pub` line, and a distinctive body line
/// (the one holding the private seed) to register as the canary value. The layout is
/// the real `openssh-key-v1` one (unencrypted), so parsers accept it; the key bytes are
/// random, so it is not a usable key.
pub struct SshKey {
    pub private_pem: String,
    pub public_line: String,
    pub canary_line: String,
}

pub fn ssh_ed25519<R: Rng + ?Sized>(rng: &mut R, comment: &str) -> SshKey {
    fn put_str(out: &mut Vec<u8>, s: &[u8]) {
        out.extend((s.len() as u32).to_be_bytes());
        out.extend(s);
    }
    let public = bytes(rng, 32);
    let seed = bytes(rng, 32);
    let mut pub_blob = Vec::new();
    put_str(&mut pub_blob, b"ssh-ed25519");
    put_str(&mut pub_blob, &public);

    let check = bytes(rng, 4);
    let mut private = Vec::new();
    private.extend(&check);
    private.extend(&check);
    put_str(&mut private, b"ssh-ed25519");
    put_str(&mut private, &public);
    let mut keypair = seed.clone();
    keypair.extend(&public);
    let seed_offset_in_private = private.len() + 4;
    put_str(&mut private, &keypair);
    put_str(&mut private, comment.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }

    let mut file = b"openssh-key-v1\0".to_vec();
    put_str(&mut file, b"none");
    put_str(&mut file, b"none");
    put_str(&mut file, b"");
    file.extend(1u32.to_be_bytes());
    put_str(&mut file, &pub_blob);
    let seed_offset = file.len() + 4 + seed_offset_in_private;
    put_str(&mut file, &private);

    let body = STANDARD.encode(&file);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(70)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    // The first base64 character fully inside the seed, and the line it lands on.
    let seed_char = (seed_offset * 8).div_ceil(6);
    let canary_line = lines
        .get(seed_char / 70)
        .copied()
        .unwrap_or_default()
        .to_string();
    let private_pem = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let public_line = format!(
        "ssh-ed25519 {} {comment}\n",
        STANDARD_NO_PAD.encode(&pub_blob) + pad_for(pub_blob.len())
    );
    SshKey {
        private_pem,
        public_line,
        canary_line,
    }
}

/// The `=` padding standard base64 adds for `len` input bytes.
fn pad_for(len: usize) -> &'static str {
    match len % 3 {
        1 => "==",
        2 => "=",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn ssh_key_parses_as_openssh_v1() {
        let mut rng = StdRng::seed_from_u64(7);
        let key = ssh_ed25519(&mut rng, "runner@fv-az123-456");
        let body: String = key
            .private_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let raw = STANDARD.decode(&body).unwrap();
        assert!(raw.starts_with(b"openssh-key-v1\0\0\0\0\x04none"));
        assert!(key
            .private_pem
            .lines()
            .all(|l| l.len() <= 70 || l.starts_with("-----")));
        assert!(key.private_pem.contains(&key.canary_line));
        assert_eq!(key.canary_line.len(), 70);
        // The public key in the .pub line is the one embedded in the private file.
        let pub_b64 = key.public_line.split(' ').nth(1).unwrap();
        let pub_blob = STANDARD.decode(pub_b64).unwrap();
        assert!(raw
            .windows(pub_blob.len())
            .any(|w| w == pub_blob.as_slice()));
        assert!(pub_b64.starts_with("AAAAC3NzaC1lZDI1NTE5AAAAI"));
    }

    #[test]
    fn values_differ_between_draws() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_ne!(npm_token(&mut rng), npm_token(&mut rng));
        assert_eq!(digits(&mut rng, 3).len(), 3);
    }
}

//! A loopback, read-only mirror of the npm registry for benchmark runs: airlock's npm
//! client trusts only the bundled web PKI roots, so on a machine whose registry access
//! goes through a TLS-inspecting proxy (a CA in `$SSL_CERT_FILE`) `name@version` cannot
//! be fetched. The mirror answers `GET /<path>` on 127.0.0.1 by fetching
//! `<upstream>/<path>` with `curl` (which honours the system CA bundle), rewriting the
//! upstream's URL in JSON documents to its own so tarballs come through it too, and
//! keeping every answer on disk so a rerun fetches nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub const NPM_UPSTREAM: &str = "https://registry.npmjs.org";

/// A running mirror; lives as long as the process (its thread is detached).
pub struct Mirror {
    pub url: String,
}

/// Starts a mirror of `upstream` on a free loopback port, caching under `cache`.
pub fn start(upstream: &str, cache: &Path) -> Result<Mirror> {
    std::fs::create_dir_all(cache)?;
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the npm mirror")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (up, own, cache) = (upstream.to_string(), url.clone(), cache.to_path_buf());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (up, own, cache) = (up.clone(), own.clone(), cache.clone());
            std::thread::spawn(move || {
                let _ = serve(conn, &up, &own, &cache);
            });
        }
    });
    Ok(Mirror { url })
}

fn serve(mut conn: TcpStream, upstream: &str, own: &str, cache: &Path) -> Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let body = if method == "GET" && path.starts_with('/') && !path.contains("..") {
        fetch(upstream, own, path, cache)
    } else {
        None
    };
    match body {
        Some((b, json)) => {
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                if json { "application/json" } else { "application/octet-stream" },
                b.len()
            )?;
            conn.write_all(&b)?;
        }
        None => {
            conn.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
    }
    Ok(())
}

fn cache_file(cache: &Path, path: &str) -> PathBuf {
    cache.join(hex::encode(Sha256::digest(path.as_bytes())))
}

fn fetch(upstream: &str, own: &str, path: &str, cache: &Path) -> Option<(Vec<u8>, bool)> {
    let json = !path.contains("/-/");
    let file = cache_file(cache, path);
    let raw = match std::fs::read(&file) {
        Ok(b) => b,
        Err(_) => {
            let out = Command::new("curl")
                .args(["-sS", "--fail", "-L", "--max-time", "300", "--compressed"])
                .arg(format!("{upstream}{path}"))
                .output()
                .ok()?;
            if !out.status.success() {
                return None;
            }
            let tmp = file.with_extension("part");
            std::fs::write(&tmp, &out.stdout).ok()?;
            std::fs::rename(&tmp, &file).ok()?;
            out.stdout
        }
    };
    if json {
        let text = String::from_utf8_lossy(&raw).replace(upstream, own);
        Some((text.into_bytes(), true))
    } else {
        Some((raw, false))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read;

    #[test]
    fn serves_from_its_cache_and_rewrites_urls() {
        let cache = tempfile::tempdir().unwrap();
        // Upstream is never contacted: the answer is already cached.
        let upstream = "http://upstream.invalid";
        std::fs::write(
            cache_file(cache.path(), "/left-pad"),
            format!("{{\"tarball\":\"{upstream}/left-pad/-/left-pad-1.3.0.tgz\"}}"),
        )
        .unwrap();
        let m = start(upstream, cache.path()).unwrap();
        let addr = m.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /left-pad HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"));
        assert!(resp.contains(&format!("{}/left-pad/-/left-pad-1.3.0.tgz", m.url)));
    }
}

//! Test helpers shared by the npm, PyPI and sample-zip tests: archives built in memory from
//! text, and a loopback-only HTTP server that serves fixed responses.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use sha2::Digest;

/// A `.tar.gz` holding `files` (path, contents), regular files only.
pub fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(enc);
    for (path, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Write the name bytes directly so that hostile names (`../x`) survive.
        let name = h.as_old_mut().name.as_mut();
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A zip holding `files`, optionally encrypted (`aes` true: AES-256, else ZipCrypto).
pub fn zip_bytes(files: &[(&str, &[u8])], password: Option<(&str, bool)>) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, body) in files {
        let mut opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        if let Some((pw, aes)) = password {
            opts = if aes {
                opts.with_aes_encryption(zip::AesMode::Aes256, pw)
            } else {
                opts.with_deprecated_encryption(pw.as_bytes()).unwrap()
            };
        }
        w.start_file(*path, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Responses by request path (query string ignored): status, content type, body.
pub type Routes = BTreeMap<String, (u16, &'static str, Vec<u8>)>;

/// A loopback HTTP/1.1 server answering from `routes` (404 otherwise), one request per
/// connection. Returns its base URL and the log of requested paths.
pub fn serve(routes: Routes) -> (String, Arc<Mutex<Vec<String>>>) {
    serve_at(|_| routes)
}

/// [`serve`] with routes made knowing the server's base URL (a packument names tarballs
/// on the registry that serves it).
pub fn serve_at(routes: impl FnOnce(&str) -> Routes) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = routes(&base);
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf);
            let path = req
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            log2.lock().unwrap().push(path.clone());
            let (status, ctype, body) =
                routes
                    .get(&path)
                    .cloned()
                    .unwrap_or((404, "text/plain", b"not found".to_vec()));
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (base, log)
}

//! Compression of the blobs the store keeps (traces, reports). gzip via flate2: traces
//! are repetitive JSON and shrink 10-20×; the codec name is stored beside each blob so a
//! later version can switch (to zstd, say) without rewriting old rows.

use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Name stored in `trace_codec` / `report_codec`.
pub(crate) const GZIP: &str = "gzip";

pub(crate) fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 8 + 64), Compression::new(6));
    enc.write_all(data)?;
    enc.finish()
}

pub(crate) fn decompress(codec: &str, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match codec {
        GZIP => {
            let mut out = Vec::with_capacity(data.len() * 8);
            GzDecoder::new(data).read_to_end(&mut out)?;
            Ok(out)
        }
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown codec {other:?}"),
        )),
    }
}

/// A reader that decompresses `data` as it is read, so a large trace is never whole in
/// memory uncompressed.
pub(crate) fn decoder(codec: &str, data: Vec<u8>) -> std::io::Result<impl std::io::BufRead> {
    match codec {
        GZIP => Ok(std::io::BufReader::with_capacity(
            64 * 1024,
            GzDecoder::new(std::io::Cursor::new(data)),
        )),
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown codec {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shrinks_json() {
        let line = br#"{"record":"event","seq":1,"type":"file.open","path":"/usr/lib/node"}"#;
        let data: Vec<u8> = line.iter().copied().cycle().take(100_000).collect();
        let packed = compress(&data).unwrap();
        assert!(packed.len() * 10 < data.len(), "{} bytes", packed.len());
        assert_eq!(decompress(GZIP, &packed).unwrap(), data);
        let mut streamed = Vec::new();
        decoder(GZIP, packed)
            .unwrap()
            .read_to_end(&mut streamed)
            .unwrap();
        assert_eq!(streamed, data);
    }

    #[test]
    fn rejects_unknown_codec_and_garbage() {
        assert!(decompress("zstd", b"x").is_err());
        assert!(decompress(GZIP, b"not gzip at all").is_err());
    }
}

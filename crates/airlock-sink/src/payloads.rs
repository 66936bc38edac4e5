//! Harmless stand-ins for what droppers download: a shell script that exits 0, an
//! x86-64 ELF that exits 0, a DOS/MZ stub, an empty zip, an empty tarball, and a
//! minimal npm package tarball for worms that download a package to re-publish it.
//! Given these, a dropper proceeds to its next step (chmod, exec) and we see it.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

pub const SHELL_SCRIPT: &[u8] = b"#!/bin/sh\nexit 0\n";

/// A 129-byte static x86-64 Linux ELF executable: one PT_LOAD segment mapping the
/// whole file at 0x400000, entry right after the headers, code
/// `mov eax, 60; xor edi, edi; syscall` (exit(0)).
pub fn tiny_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let code: [u8; 9] = [0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05];
    let total = EHDR + PHDR + code.len() as u64;
    let mut f = Vec::with_capacity(total as usize);
    // e_ident: magic, 64-bit, little endian, version 1, System V ABI, padding.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine x86-64
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&(BASE + EHDR + PHDR).to_le_bytes()); // e_entry
    f.extend_from_slice(&EHDR.to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    f.extend_from_slice(&(EHDR as u16).to_le_bytes()); // e_ehsize
    f.extend_from_slice(&(PHDR as u16).to_le_bytes()); // e_phentsize
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shentsize
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    f.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
                                              // Program header: PT_LOAD, R+X, whole file.
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&5u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    f.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    f.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    f.extend_from_slice(&total.to_le_bytes()); // p_filesz
    f.extend_from_slice(&total.to_le_bytes()); // p_memsz
    f.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    f.extend_from_slice(&code);
    f
}

/// A 64-byte DOS executable: MZ header whose code is `mov ax,4C00h; int 21h`.
pub fn mz_stub() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0] = b'M';
    f[1] = b'Z';
    f[2..4].copy_from_slice(&64u16.to_le_bytes()); // bytes on last page
    f[4..6].copy_from_slice(&1u16.to_le_bytes()); // pages
    f[8..10].copy_from_slice(&2u16.to_le_bytes()); // header paragraphs (32 bytes)
    f[0x18..0x1a].copy_from_slice(&0x40u16.to_le_bytes()); // e_lfarlc
    f[32..37].copy_from_slice(&[0xb8, 0x00, 0x4c, 0xcd, 0x21]);
    f
}

/// An empty zip archive (end-of-central-directory record only).
pub fn empty_zip() -> Vec<u8> {
    let mut z = vec![0x50, 0x4b, 0x05, 0x06];
    z.extend_from_slice(&[0; 18]);
    z
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// An empty tar archive, gzipped.
pub fn empty_targz() -> Vec<u8> {
    gzip(&[0u8; 1024])
}

/// A gzipped npm package tarball holding only `package/package.json`.
pub fn npm_tarball(name: &str, version: &str) -> Vec<u8> {
    let manifest = serde_json::json!({
        "name": name, "version": version, "description": "", "main": "index.js", "license": "ISC"
    })
    .to_string();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(499_162_500);
    header.set_cksum();
    if builder
        .append_data(&mut header, "package/package.json", manifest.as_bytes())
        .is_err()
    {
        return empty_targz();
    }
    match builder.into_inner() {
        Ok(raw) => gzip(&raw),
        Err(_) => empty_targz(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn elf_has_consistent_headers() {
        let elf = tiny_elf();
        assert_eq!(elf.len(), 129);
        assert_eq!(&elf[..4], b"\x7fELF");
        let entry = u64::from_le_bytes(elf[24..32].try_into().unwrap());
        assert_eq!(entry - 0x40_0000, 120);
        assert_eq!(elf[120], 0xb8);
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn elf_runs_and_exits_zero() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        std::fs::write(&path, tiny_elf()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = std::process::Command::new(&path).status().unwrap();
        assert_eq!(status.code(), Some(0));
    }

    #[test]
    fn archives_are_valid_and_empty() {
        let empty = empty_targz();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&empty[..]));
        assert_eq!(tar.entries().unwrap().count(), 0);
        let tgz = npm_tarball("pkg", "1.2.3");
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]));
        let mut entries = tar.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some("package/package.json"));
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert!(s.contains("\"version\":\"1.2.3\""), "{s}");
        assert_eq!(empty_zip().len(), 22);
        assert_eq!(&mz_stub()[..2], b"MZ");
    }
}

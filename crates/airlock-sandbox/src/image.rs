//! The sandbox image: its recipe is compiled into the binary, so an installed `airlock`
//! can build the image on first use without the source tree. The tag is a hash of the
//! recipe (same algorithm as `sandbox-images/build-image`), so an unchanged recipe is
//! never rebuilt and a changed one never reuses a stale image.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use sha2::{Digest, Sha256};

use crate::error::SandboxError;

/// Embeds recipe files by their path relative to `sandbox-images/sandbox/`.
macro_rules! recipe {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../../sandbox-images/sandbox/", $path)))),*]
    };
}

/// Files of `sandbox-images/sandbox/`, relative paths. A test checks this list against
/// the directory, so a new recipe file cannot be forgotten here.
pub const RECIPE: &[(&str, &[u8])] = recipe![
    "Dockerfile",
    "packages.txt",
    "runtimes.txt",
    "vendor-npm.txt",
    "rootfs/mnt/c/Windows/System32/cmd.exe",
    "rootfs/usr/local/lib/devtools/bin/exercise-npm.js",
    "rootfs/usr/local/lib/devtools/bin/fs-snapshot",
    "rootfs/usr/local/lib/devtools/bin/hook-log",
    "rootfs/usr/local/lib/devtools/bin/import-npm.js",
    "rootfs/usr/local/lib/devtools/bin/import-py.py",
    "rootfs/usr/local/lib/devtools/bin/rebuild-npm",
    "rootfs/usr/local/lib/devtools/bin/install-npm",
    "rootfs/usr/local/lib/devtools/bin/install-py",
    "rootfs/usr/local/lib/devtools/bin/exercise-py.py",
    "rootfs/usr/local/lib/devtools/bin/step",
    "rootfs/usr/local/lib/devtools/node/argsynth.js",
    "rootfs/usr/local/lib/devtools/node/browser.js",
    "rootfs/usr/local/lib/devtools/node/hooklog.js",
    "rootfs/usr/local/lib/devtools/node/persona.js",
    "rootfs/usr/local/lib/devtools/node/preload.js",
    "rootfs/usr/local/lib/devtools/node/vclock.js",
    "rootfs/usr/local/lib/devtools/python/apport_python_hook.py",
    "rootfs/usr/local/lib/devtools/venv/_virtualenv.pth",
    "rootfs/usr/local/lib/devtools/venv/_virtualenv.py",
    "rootfs/usr/bin/ping",
    "shim/eatmydata.c",
    "shim/init.c",
];

/// The image's runtimes (Node.js and Python versions, the defaults), for `--node` and
/// `--python` (`airlock_ecosystem::RuntimeCatalog` reads it).
pub const RUNTIMES: &str = include_str!("../../../sandbox-images/sandbox/runtimes.txt");

/// The builder script, embedded for the same reason.
pub const BUILD_SCRIPT: &[u8] = include_bytes!("../../../sandbox-images/build-image");

/// `airlock-sandbox:<16 hex>` for the compiled-in recipe.
pub fn image_tag() -> String {
    format!("airlock-sandbox:{}", recipe_hash(RECIPE))
}

/// sha256 over `path NUL content NUL` of every file, first 16 hex digits.
pub fn recipe_hash(files: &[(&str, &[u8])]) -> String {
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    for (path, content) in sorted {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(content);
        h.update([0]);
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Writes the embedded recipe and builder into `dir` (mode 0755 for scripts).
pub fn write_recipe(dir: &Path) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |path: &Path, e: std::io::Error| SandboxError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    for (rel, content) in RECIPE {
        let path = dir.join("sandbox").join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, content).map_err(|e| io(&path, e))?;
        if rel.contains("/bin/") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| io(&path, e))?;
        }
    }
    let script = dir.join("build-image");
    std::fs::write(&script, BUILD_SCRIPT).map_err(|e| io(&script, e))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io(&script, e))?;
    Ok(())
}

/// Makes sure the image exists: present → nothing; otherwise runs the embedded builder
/// (which loads a cached copy or builds from debootstrap), printing one progress line.
pub async fn ensure_image(docker: &bollard::Docker) -> Result<String, SandboxError> {
    let tag = image_tag();
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(tag);
    }
    let dir = tempfile::Builder::new()
        .prefix("airlock-recipe-")
        .tempdir()
        .map_err(|e| SandboxError::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
    write_recipe(dir.path())?;
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "airlock: sandbox image {tag} is missing; building it (first use only, a few minutes)…"
    );
    let status = tokio::process::Command::new(dir.path().join("build-image"))
        .arg(dir.path().join("sandbox"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .await
        .map_err(|e| SandboxError::Io {
            path: dir.path().join("build-image"),
            source: e,
        })?;
    if !status.success() {
        return Err(SandboxError::ImageBuild(format!(
            "build-image exited with {status}"
        )));
    }
    docker
        .inspect_image(&tag)
        .await
        .map_err(|e| SandboxError::ImageBuild(format!("{tag} still missing after build: {e}")))?;
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sandbox-images/sandbox")
    }

    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }

    #[test]
    fn embedded_recipe_lists_every_file() {
        let base = recipe_dir();
        let mut on_disk = Vec::new();
        walk(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = RECIPE.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "update image::RECIPE to match sandbox-images/sandbox"
        );
    }

    #[test]
    fn tag_matches_the_shell_builder() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sandbox-images/build-image");
        let out = std::process::Command::new(script)
            .arg("--print-tag")
            .arg(recipe_dir())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), image_tag());
    }

    #[test]
    fn hash_depends_on_content_and_names() {
        let a = recipe_hash(&[("a", b"1"), ("b", b"2")]);
        assert_eq!(a, recipe_hash(&[("b", b"2"), ("a", b"1")]));
        assert_ne!(a, recipe_hash(&[("a", b"1"), ("b", b"3")]));
        assert_ne!(a, recipe_hash(&[("a", b"1"), ("c", b"2")]));
    }
}

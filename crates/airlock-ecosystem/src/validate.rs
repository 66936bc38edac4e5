//! Names and versions a package chose are checked here before they touch a host path,
//! a command line or a lockfile (issue 19: a version of `../../x` was joined into a host
//! path unchecked). Every boundary where one enters airlock — spec parsing, artifact
//! recognition, a registry's answer, lockfile reading — calls these, and a bad value is a
//! [`RegistryError::Invalid`] naming the field: an exit-2 error, never a path.
//!
//! The rules are the package managers' own: npm's `validate-npm-package-name` (as for
//! packages already published, so old uppercase names pass) and semver 2.0 (the `semver`
//! crate, which npm's registry has required of every version); PyPI's PEP 508 / PEP 503
//! project names and PEP 440 versions (the grammar of `packaging`'s `VERSION_PATTERN`).

use std::sync::OnceLock;

use crate::RegistryError;

/// npm's length limit for names.
const NPM_NAME_MAX: usize = 214;
/// No real version or dist-tag comes near this.
const VERSION_MAX: usize = 256;

fn invalid(field: &str, value: &str, reason: &str) -> RegistryError {
    RegistryError::Invalid {
        field: field.to_string(),
        value: value.chars().take(200).collect(),
        reason: reason.to_string(),
    }
}

/// Bidirectional and invisible formatting characters (they reorder or hide text).
fn invisible(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Characters `encodeURIComponent` leaves alone: what npm calls URL-friendly.
fn url_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '!' | '~' | '*' | '\'' | '(' | ')')
}

/// Why `name` is not a valid npm package name (`validate-npm-package-name`, rules for
/// names already on the registry), if it is not.
pub fn npm_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty");
    }
    if name.len() > NPM_NAME_MAX {
        return Some("longer than 214 characters");
    }
    if name.trim() != name {
        return Some("leading or trailing spaces");
    }
    let bare = match name.strip_prefix('@') {
        Some(scoped) => {
            let Some((scope, bare)) = scoped.split_once('/') else {
                return Some("a scope (`@scope`) without `/name`");
            };
            if scope.is_empty() || !scope.chars().all(url_safe) || scope.starts_with('.') {
                return Some("the scope is not URL-safe");
            }
            bare
        }
        None => name,
    };
    if bare.is_empty() {
        return Some("empty after the scope");
    }
    if bare.starts_with('.') || bare.starts_with('_') {
        return Some("starts with `.` or `_`");
    }
    if !bare.chars().all(url_safe) {
        return Some("contains characters that are not URL-safe (`/`, `\\`, spaces, control characters, non-ASCII, ...)");
    }
    if matches!(
        bare.to_ascii_lowercase().as_str(),
        "node_modules" | "favicon.ico"
    ) {
        return Some("a name npm blacklists");
    }
    None
}

/// Checks an npm package name; `field` names where it came from in the error.
pub fn npm_name(field: &str, name: &str) -> Result<(), RegistryError> {
    match npm_name_problem(name) {
        Some(why) => Err(invalid(
            field,
            name,
            &format!("not a valid npm package name: {why}"),
        )),
        None => Ok(()),
    }
}

/// Checks an npm version: semver 2.0 (a leading `v` or `=`, which npm cleans, allowed).
pub fn npm_version(field: &str, version: &str) -> Result<(), RegistryError> {
    let v = version.strip_prefix(['v', '=']).unwrap_or(version);
    if version.len() > VERSION_MAX || semver::Version::parse(v).is_err() {
        return Err(invalid(field, version, "not a valid semver version"));
    }
    Ok(())
}

/// Checks what may follow `name@` in a spec: a semver version or a dist-tag (letters,
/// digits, `.`, `-`, `_`; npm's tags must be URL-safe and cannot be versions).
pub fn npm_version_or_tag(field: &str, spec: &str) -> Result<(), RegistryError> {
    if npm_version(field, spec).is_ok() {
        return Ok(());
    }
    let tag_ok = !spec.is_empty()
        && spec.len() <= VERSION_MAX
        && !spec.starts_with('.')
        && !spec.contains("..")
        && spec
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if tag_ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            spec,
            "neither a semver version nor a dist-tag",
        ))
    }
}

/// Checks a PyPI project name (PEP 508: ASCII letters and digits, with `.`, `-`, `_`
/// inside; PEP 503 normalises it).
pub fn pypi_name(field: &str, name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= NPM_NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            name,
            "not a valid Python project name (PEP 508: letters, digits, and `.`, `-`, `_` between them)",
        ))
    }
}

/// PEP 440's version grammar, as `packaging.version.VERSION_PATTERN` writes it.
fn pep440() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        #[allow(clippy::expect_used)]
        regex::Regex::new(
            r"(?ix)^\s*v?
            (?:(?:[0-9]+)!)?
            (?:[0-9]+(?:\.[0-9]+)*)
            (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?:[0-9]+)?)?
            (?:(?:-(?:[0-9]+))|(?:[-_.]?(?:post|rev|r)[-_.]?(?:[0-9]+)?))?
            (?:[-_.]?(?:dev)[-_.]?(?:[0-9]+)?)?
            (?:\+(?:[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
            \s*$",
        )
        .expect("PEP 440 pattern compiles")
    })
}

/// Checks a PyPI version (PEP 440; surrounding spaces are not allowed where it names a
/// file).
pub fn pypi_version(field: &str, version: &str) -> Result<(), RegistryError> {
    if version.len() > VERSION_MAX || version.trim() != version || !pep440().is_match(version) {
        return Err(invalid(field, version, "not a valid PEP 440 version"));
    }
    Ok(())
}

/// Checks a version read from a distribution's own metadata: PEP 440, or a legacy
/// version old sdists still carry (`2004d`) made only of letters, digits and `.-_+!`,
/// so it can never be a path.
pub fn pypi_legacy_version(field: &str, version: &str) -> Result<(), RegistryError> {
    if pypi_version(field, version).is_ok() {
        return Ok(());
    }
    let ok = !version.is_empty()
        && version.len() <= VERSION_MAX
        && version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!'));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, version, "not a valid version (PEP 440)"))
    }
}

/// A file name taken from a registry's answer or an archive (`requests-2.32.3.tar.gz`):
/// one path component, no `..`, no separators, no control characters.
pub fn file_name(field: &str, name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.trim() == name
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| matches!(c, '/' | '\\') || c.is_control() || invisible(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, name, "not a plain file name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "../x",
        "../../../etc/passwd",
        "/etc/passwd",
        "a/../b",
        "x\0y",
        "x\ny",
        "x\r",
        "\u{1b}[31mred",
        "evil\u{202e}txt",
        "",
        " x",
        "..",
        ".",
    ];

    #[test]
    fn npm_names() {
        for ok in [
            "left-pad",
            "@types/node",
            "JSONStream",
            "lodash.merge",
            "a",
            "@a/b.c",
            "x_y",
        ] {
            assert!(npm_name_problem(ok).is_none(), "{ok}");
        }
        for bad in HOSTILE {
            assert!(npm_name("name", bad).is_err(), "{bad:?}");
        }
        for bad in [
            "@x",
            "@/x",
            "@x/",
            "a/b",
            "@a/b/c",
            ".hidden",
            "_x",
            "node_modules",
            "café",
            "a b",
            "a\\b",
            "a%2fb",
        ] {
            assert!(npm_name_problem(bad).is_some(), "{bad}");
        }
        assert!(npm_name_problem(&"a".repeat(215)).is_some());
    }

    #[test]
    fn npm_versions() {
        for ok in ["1.0.0", "0.0.1-alpha.1", "1.2.3+build.5", "v1.0.0"] {
            npm_version("version", ok).unwrap();
        }
        for bad in HOSTILE
            .iter()
            .chain(&["1.0", "1.0.0/../x", "1.0.0\n", "01.0.0", "1.0.0 "])
        {
            let e = npm_version("version", bad).unwrap_err().to_string();
            assert!(e.contains("version"), "{e}");
        }
        for ok in ["latest", "next", "1.3.0", "beta-2", "v5"] {
            npm_version_or_tag("spec", ok).unwrap();
        }
        for bad in HOSTILE.iter().chain(&["a..b", "x/y", "^1.0.0"]) {
            assert!(npm_version_or_tag("spec", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pypi_names_and_versions() {
        for ok in ["requests", "zope.interface", "typing_extensions", "A1", "x"] {
            pypi_name("name", ok).unwrap();
        }
        for bad in HOSTILE.iter().chain(&["-x", "x-", "a b", "a/b"]) {
            assert!(pypi_name("name", bad).is_err(), "{bad:?}");
        }
        for ok in [
            "1.0",
            "2.32.3",
            "1!2.0",
            "1.0a1",
            "1.0.post1",
            "1.0.dev3",
            "1.0+local.1",
            "v1.0",
            "2023.10.1rc2",
        ] {
            pypi_version("version", ok).unwrap();
        }
        for bad in HOSTILE
            .iter()
            .chain(&["1.0/../x", "1.0 ", "abc", "1.0+", "1.0-../x"])
        {
            assert!(pypi_version("version", bad).is_err(), "{bad:?}");
        }
        pypi_legacy_version("version", "2004d").unwrap();
        for bad in HOSTILE.iter().chain(&["1.0/../x", ".1"]) {
            assert!(pypi_legacy_version("version", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_names() {
        file_name("file", "requests-2.32.3.tar.gz").unwrap();
        for bad in HOSTILE {
            assert!(file_name("file", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_error_names_the_field() {
        let e = npm_version("package.json \"version\"", "../../x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("package.json \"version\""), "{e}");
        assert!(e.contains("../../x"), "{e}");
    }
}

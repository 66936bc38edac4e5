//! `poetry.lock` and `uv.lock`: each `[[package]]` block parsed alone (so every entry keeps
//! its line) into [`LockedPackage`]s with where the files come from and their hashes.

use super::LockedPackage as Entry;

/// `poetry.lock` entries.
pub fn parse_poetry(text: &str) -> Result<Vec<Entry>, String> {
    toml_lock(text, false)
}

/// `uv.lock` entries.
pub fn parse_uv(text: &str) -> Result<Vec<Entry>, String> {
    toml_lock(text, true)
}

fn toml_lock(text: &str, uv: bool) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let lines = crate::text::Lines::new(text);
    let line_at = |offset: usize| lines.line_of(offset);
    // Parse each [[package]] block alone so each entry keeps its line.
    let mut starts: Vec<usize> = Vec::new();
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "[[package]]" {
            starts.push(off);
        }
        off += line.len();
    }
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).copied().unwrap_or(text.len());
        // Stop at the next top-level table that is not part of this package.
        let block_text = &text[s..end];
        if let Some(i) = block_text.find("\n[metadata") {
            end = s + i + 1;
        }
        let block = &text[s..end];
        let table: toml::Table = block
            .parse()
            .map_err(|e: toml::de::Error| format!("line {}: {e}", line_at(s)))?;
        let Some(p) = table
            .get("package")
            .and_then(|p| p.as_array())
            .and_then(|a| a.first())
        else {
            continue;
        };
        let name = p
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let version = p
            .get("version")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let mut e = Entry {
            name,
            version,
            line: Some(line_at(s)),
            ..Default::default()
        };
        e.optional = p.get("optional").and_then(|v| v.as_bool()) == Some(true);
        if uv {
            let src = p.get("source").and_then(|v| v.as_table());
            if let Some(src) = src {
                if let Some(g) = src.get("git").and_then(|v| v.as_str()) {
                    e.resolved = Some(format!("git+{g}"));
                    e.spec = e.resolved.clone();
                } else if let Some(u) = src.get("url").and_then(|v| v.as_str()) {
                    e.resolved = Some(u.to_string());
                } else if let Some(r) = src.get("registry").and_then(|v| v.as_str()) {
                    e.resolved = Some(format!("{}/packages/", r.trim_end_matches('/')));
                } else {
                    e.local = true;
                }
            }
            let mut hashes = Vec::new();
            if let Some(h) = p
                .get("sdist")
                .and_then(|s| s.get("hash"))
                .and_then(|h| h.as_str())
            {
                hashes.push(h.to_string());
            }
            for w in p
                .get("wheels")
                .and_then(|w| w.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(h) = w.get("hash").and_then(|h| h.as_str()) {
                    hashes.push(h.to_string());
                }
            }
            e.integrity = (!hashes.is_empty()).then(|| hashes.join(" ").replace(':', "-"));
        } else {
            let src = p.get("source").and_then(|v| v.as_table());
            let src_type = src
                .and_then(|s| s.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let url = src
                .and_then(|s| s.get("url"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            match src_type {
                "git" => {
                    let reference = src
                        .and_then(|s| s.get("reference"))
                        .and_then(|v| v.as_str())
                        .unwrap_or("");
                    e.resolved = Some(format!("git+{url}#{reference}"));
                    e.spec = e.resolved.clone();
                }
                "url" => e.resolved = Some(url.to_string()),
                "legacy" => e.resolved = Some(format!("{}/", url.trim_end_matches('/'))),
                "file" | "directory" => e.local = true,
                _ => e.resolved = Some("https://pypi.org/simple".into()),
            }
            let files = p.get("files").and_then(|f| f.as_array());
            let hashes: Vec<String> = files
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    f.get("hash")
                        .and_then(|h| h.as_str())
                        .map(|h| h.replace(':', "-"))
                })
                .collect();
            e.integrity = (!hashes.is_empty()).then(|| hashes.join(" "));
        }
        out.push(e);
    }
    Ok(out)
}

//! The language runtimes a run uses: which Node.js and which Python the sandbox image
//! holds (its recipe's `runtimes.txt`, read into a [`RuntimeCatalog`]), the choice for one
//! run (`--node 24`, `--python 3.13`, or what a project asks for in `engines.node`,
//! `.nvmrc`, `.node-version` and `requires-python`), and what that choice means for a
//! plan ([`Runtimes`]: the directory put first on `PATH`, the interpreter a venv is made
//! with, the wheel tags the host fetches for). A package sees the runtimes a GitHub runner
//! or a developer has now, not one that tells it the persona is fake.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where actions/setup-node puts a Node.js version on a GitHub runner (and the image too).
pub const NODE_TOOLCACHE: &str = "/opt/hostedtoolcache/node";

/// Why a runtime choice cannot be met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// A line of `runtimes.txt` that is not understood.
    #[error("runtimes.txt line {line}: {message}")]
    Catalog { line: usize, message: String },
    /// `--node V` / `--python V` that the image does not hold.
    #[error("{runtime} {wanted} is not in the sandbox image (it has {available}){why}")]
    Unavailable {
        runtime: &'static str,
        wanted: String,
        available: String,
        /// A reason the image cannot have it, when known (` — …`).
        why: String,
    },
    /// A version selector that is not one (`--node banana`).
    #[error("{runtime} version `{wanted}` is not a version (try {example})")]
    BadSelector {
        runtime: &'static str,
        wanted: String,
        example: &'static str,
    },
}

/// The Node.js a plan's phases run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRuntime {
    /// `24.22.3`; empty when unknown (a plan made without a catalogue).
    pub version: String,
    /// `npm`'s version bundled with it.
    #[serde(default)]
    pub npm: String,
    /// Put first on `PATH` (`/opt/hostedtoolcache/node/24.22.3/x64/bin`, as setup-node
    /// does); `None` for the image's default node in `/usr/local/bin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin_dir: Option<String>,
}

/// The Python a plan's phases run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonRuntime {
    /// `3.13`; empty when unknown.
    pub version: String,
    /// The command the virtual environment is made with (`python3.13`).
    pub interpreter: String,
    /// glibc of the image (`2.41`): the newest manylinux wheels it runs.
    #[serde(default)]
    pub glibc: String,
}

impl Default for PythonRuntime {
    fn default() -> Self {
        PythonRuntime {
            version: String::new(),
            interpreter: "python3".into(),
            glibc: String::new(),
        }
    }
}

impl PythonRuntime {
    /// `(3, 13)`, or the image's default when the version is unknown.
    pub fn minor(&self) -> (u32, u32) {
        parse_minor(&self.version).unwrap_or(DEFAULT_PYTHON)
    }

    /// glibc's minor version (`41` for 2.41), or the image's default.
    pub fn glibc_minor(&self) -> u32 {
        self.glibc
            .strip_prefix("2.")
            .and_then(|m| m.parse().ok())
            .unwrap_or(DEFAULT_GLIBC_MINOR)
    }
}

/// What a run uses: Node.js and Python.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtimes {
    #[serde(default)]
    pub node: NodeRuntime,
    #[serde(default)]
    pub python: PythonRuntime,
}

/// The image's Python and glibc when nothing says otherwise (Debian trixie).
const DEFAULT_PYTHON: (u32, u32) = (3, 13);
const DEFAULT_GLIBC_MINOR: u32 = 41;

fn parse_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.trim().trim_start_matches('v').split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// One Node.js of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    pub version: nodejs_semver::Version,
    pub npm: String,
}

/// What the sandbox image holds (`runtimes.txt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeCatalog {
    pub node: Vec<NodeEntry>,
    /// `3.13`, …
    pub python: Vec<String>,
    /// The default Node.js major (`22`).
    pub default_node: u64,
    pub default_python: String,
    pub glibc: String,
}

/// Node.js LTS code names and their majors (`lts/jod` in an `.nvmrc`).
const LTS_NAMES: &[(&str, u64)] = &[("hydrogen", 18), ("iron", 20), ("jod", 22), ("krypton", 24)];

/// Python versions a request may name that no reachable source provides, with why.
const PYTHON_UNREACHABLE: &[(&str, &str)] = &[(
    "3.12",
    " — no source this machine reaches ships CPython 3.12 (Debian trixie and sid carry \
     3.13 and later; PyPI and npm have no Linux CPython 3.12 build)",
)];

impl RuntimeCatalog {
    /// Reads `runtimes.txt` (see the file's header for the format).
    pub fn parse(text: &str) -> Result<RuntimeCatalog, RuntimeError> {
        let mut cat = RuntimeCatalog {
            node: Vec::new(),
            python: Vec::new(),
            default_node: 0,
            default_python: String::new(),
            glibc: String::new(),
        };
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| RuntimeError::Catalog {
                line: i + 1,
                message,
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                [w, ..] if w.starts_with('#') => {}
                ["node", v, _integrity, npm, _npm_integrity] => {
                    let version = nodejs_semver::Version::parse(v)
                        .map_err(|e| err(format!("node version {v}: {e}")))?;
                    cat.node.push(NodeEntry {
                        version,
                        npm: npm.to_string(),
                    });
                }
                ["python", v] => {
                    parse_minor(v).ok_or_else(|| err(format!("python version {v}")))?;
                    cat.python.push(v.to_string());
                }
                ["glibc", v] => cat.glibc = v.to_string(),
                ["default", "node", m] => {
                    cat.default_node = m
                        .parse()
                        .map_err(|_| err(format!("default node major {m}")))?
                }
                ["default", "python", v] => cat.default_python = v.to_string(),
                _ => return Err(err(format!("not understood: {line}"))),
            }
        }
        if !cat
            .node
            .iter()
            .any(|n| n.version.major() == cat.default_node)
        {
            return Err(RuntimeError::Catalog {
                line: 0,
                message: format!("the default node {} is not listed", cat.default_node),
            });
        }
        if !cat.python.contains(&cat.default_python) {
            return Err(RuntimeError::Catalog {
                line: 0,
                message: format!("the default python {} is not listed", cat.default_python),
            });
        }
        Ok(cat)
    }

    /// The runtimes for `--node` / `--python` (each `None`: the default).
    pub fn resolve(
        &self,
        node: Option<&str>,
        python: Option<&str>,
    ) -> Result<Runtimes, RuntimeError> {
        Ok(Runtimes {
            node: self.node(node)?,
            python: self.python(python)?,
        })
    }

    fn node_list(&self) -> String {
        let v: Vec<String> = self.node.iter().map(|n| n.version.to_string()).collect();
        v.join(", ")
    }

    /// The Node.js for a selector as `--node`, `.nvmrc` and `.node-version` write it:
    /// `24`, `v24`, `24.x`, `24.22.3` (its major decides), `lts/*`, `lts/jod`, `node`.
    pub fn node(&self, wanted: Option<&str>) -> Result<NodeRuntime, RuntimeError> {
        let major = match wanted {
            None => self.default_node,
            Some(w) => self.node_major(w)?,
        };
        let entry = self
            .node
            .iter()
            .filter(|n| n.version.major() == major)
            .max_by(|a, b| a.version.cmp(&b.version))
            .ok_or_else(|| RuntimeError::Unavailable {
                runtime: "Node.js",
                wanted: wanted.unwrap_or_default().to_string(),
                available: self.node_list(),
                why: String::new(),
            })?;
        Ok(self.node_runtime(entry))
    }

    fn node_runtime(&self, entry: &NodeEntry) -> NodeRuntime {
        let version = entry.version.to_string();
        let bin_dir = (entry.version.major() != self.default_node)
            .then(|| format!("{NODE_TOOLCACHE}/{version}/x64/bin"));
        NodeRuntime {
            version,
            npm: entry.npm.clone(),
            bin_dir,
        }
    }

    fn newest_node(&self) -> u64 {
        self.node
            .iter()
            .map(|n| n.version.major())
            .max()
            .unwrap_or(self.default_node)
    }

    fn node_major(&self, wanted: &str) -> Result<u64, RuntimeError> {
        let w = wanted.trim().to_ascii_lowercase();
        let bad = || RuntimeError::BadSelector {
            runtime: "Node.js",
            wanted: wanted.to_string(),
            example: "22, 24, v24.1.0, lts/*",
        };
        match w.as_str() {
            "node" | "latest" | "current" | "stable" | "lts/*" | "lts" => {
                return Ok(self.newest_node())
            }
            _ => {}
        }
        if let Some(name) = w.strip_prefix("lts/") {
            return LTS_NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, m)| *m)
                .ok_or_else(bad);
        }
        let digits = w.trim_start_matches('v');
        let major = digits.split('.').next().unwrap_or_default();
        major.parse().map_err(|_| bad())
    }

    /// The Python for `--python 3.13` (`3.13.1` and `python3.13` name the same).
    pub fn python(&self, wanted: Option<&str>) -> Result<PythonRuntime, RuntimeError> {
        let want = match wanted {
            None => self.default_python.clone(),
            Some(w) => {
                let w = w.trim().trim_start_matches("python");
                let (ma, mi) = parse_minor(w).ok_or_else(|| RuntimeError::BadSelector {
                    runtime: "Python",
                    wanted: w.to_string(),
                    example: "3.13",
                })?;
                format!("{ma}.{mi}")
            }
        };
        if !self.python.contains(&want) {
            let why = PYTHON_UNREACHABLE
                .iter()
                .find(|(v, _)| *v == want)
                .map(|(_, why)| why.to_string())
                .unwrap_or_default();
            return Err(RuntimeError::Unavailable {
                runtime: "Python",
                wanted: want,
                available: self.python.join(", "),
                why,
            });
        }
        Ok(PythonRuntime {
            interpreter: format!("python{want}"),
            version: want,
            glibc: self.glibc.clone(),
        })
    }

    /// The Node.js a project asks for: `.nvmrc`, else `.node-version`, else the newest
    /// major of the image that `engines.node` allows (the default when it allows it).
    /// `None` when the project says nothing; the reason names the file it came from. A
    /// request the image cannot meet falls back to the default with a warning reason.
    pub fn node_for_project(&self, project: &Path) -> Option<(NodeRuntime, String)> {
        for file in [".nvmrc", ".node-version"] {
            let Ok(text) = std::fs::read_to_string(project.join(file)) else {
                continue;
            };
            let Some(sel) = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim())
                .find(|l| !l.is_empty())
            else {
                continue;
            };
            return Some(match self.node(Some(sel)) {
                Ok(n) => (n, format!("{file} asks for {sel}")),
                Err(e) => (
                    self.default_node_runtime(),
                    format!("{file} asks for {sel}: {e}; using the default"),
                ),
            });
        }
        let manifest = std::fs::read_to_string(project.join("package.json")).ok()?;
        let json: serde_json::Value = serde_json::from_str(&manifest).ok()?;
        let range = json.get("engines")?.get("node")?.as_str()?.to_string();
        Some(self.node_for_range(&range))
    }

    fn default_node_runtime(&self) -> NodeRuntime {
        // `parse` made sure the default is listed.
        self.node(None).unwrap_or_default()
    }

    /// The Node.js an `engines.node` range allows: the default when it does, else the
    /// newest allowed one, else the default with the reason it does not satisfy.
    pub fn node_for_range(&self, range: &str) -> (NodeRuntime, String) {
        let Ok(r) = nodejs_semver::Range::parse(range) else {
            return (
                self.default_node_runtime(),
                format!("engines.node `{range}` is not a range npm reads; using the default"),
            );
        };
        let allowed: Vec<&NodeEntry> = self
            .node
            .iter()
            .filter(|n| r.satisfies(&n.version))
            .collect();
        let pick = allowed
            .iter()
            .find(|n| n.version.major() == self.default_node)
            .or_else(|| allowed.iter().max_by(|a, b| a.version.cmp(&b.version)));
        match pick {
            Some(n) => (
                self.node_runtime(n),
                format!("engines.node `{range}` allows {}", n.version),
            ),
            None => (
                self.default_node_runtime(),
                format!(
                    "engines.node `{range}` allows none of {}; using the default",
                    self.node_list()
                ),
            ),
        }
    }

    /// The Python a project asks for: `requires-python` of `pyproject.toml` (PEP 621
    /// `[project]`), the default when it allows it, else the newest allowed one. `None`
    /// when the project says nothing.
    pub fn python_for_project(&self, project: &Path) -> Option<(PythonRuntime, String)> {
        let text = std::fs::read_to_string(project.join("pyproject.toml")).ok()?;
        let doc: toml::Table = toml::from_str(&text).ok()?;
        let spec = doc
            .get("project")?
            .get("requires-python")?
            .as_str()?
            .to_string();
        Some(self.python_for_specifiers(&spec))
    }

    /// The Python a `requires-python` specifier set allows (see
    /// [`RuntimeCatalog::python_for_project`]).
    pub fn python_for_specifiers(&self, spec: &str) -> (PythonRuntime, String) {
        let default = || self.python(None).unwrap_or_default();
        let Ok(set) = spec.parse::<pep440_rs::VersionSpecifiers>() else {
            return (
                default(),
                format!("requires-python `{spec}` is not a PEP 440 specifier; using the default"),
            );
        };
        // A minor version is allowed when some release of it is (`>=3.13.1`, `<3.13.5`):
        // probe its first release and a late one.
        let allows = |v: &str| {
            [format!("{v}.0"), format!("{v}.99")].iter().any(|p| {
                p.parse::<pep440_rs::Version>()
                    .is_ok_and(|pv| set.contains(&pv))
            })
        };
        let mut allowed: Vec<&String> = self.python.iter().filter(|v| allows(v)).collect();
        allowed.sort_by_key(|v| parse_minor(v));
        let pick = if allowed.contains(&&self.default_python) {
            Some(&self.default_python)
        } else {
            allowed.last().copied()
        };
        match pick.and_then(|v| self.python(Some(v)).ok()) {
            Some(p) => {
                let why = format!("requires-python `{spec}` allows {}", p.version);
                (p, why)
            }
            None => (
                default(),
                format!(
                    "requires-python `{spec}` allows none of {}; using the default",
                    self.python.join(", ")
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = "# c\nnode 22.23.5 sha512-a 10.9.9 sha512-b\nnode 24.22.3 sha512-c 11.19.1 sha512-d\npython 3.13\nglibc 2.41\ndefault node 22\ndefault python 3.13\n";

    fn cat() -> RuntimeCatalog {
        RuntimeCatalog::parse(CATALOG).unwrap()
    }

    #[test]
    fn the_recipe_catalogue_parses() {
        let text = include_str!("../../../sandbox-images/sandbox/runtimes.txt");
        let c = RuntimeCatalog::parse(text).unwrap();
        assert!(c.node.iter().any(|n| n.version.major() == 22));
        assert!(c.node.iter().any(|n| n.version.major() == 24));
        assert_eq!(c.default_node, 22);
        assert_eq!(c.default_python, "3.13");
    }

    #[test]
    fn node_selectors() {
        let c = cat();
        let d = c.node(None).unwrap();
        assert_eq!(
            (d.version.as_str(), d.bin_dir.as_deref()),
            ("22.23.5", None)
        );
        assert_eq!(d.npm, "10.9.9");
        for sel in [
            "24",
            "v24",
            "24.x",
            "24.1.0",
            "lts/*",
            "lts/krypton",
            "node",
        ] {
            let n = c.node(Some(sel)).unwrap();
            assert_eq!(n.version, "24.22.3", "{sel}");
            assert_eq!(
                n.bin_dir.as_deref(),
                Some("/opt/hostedtoolcache/node/24.22.3/x64/bin")
            );
        }
        assert_eq!(c.node(Some("lts/jod")).unwrap().version, "22.23.5");
        assert!(matches!(
            c.node(Some("18")),
            Err(RuntimeError::Unavailable { .. })
        ));
        assert!(matches!(
            c.node(Some("banana")),
            Err(RuntimeError::BadSelector { .. })
        ));
    }

    #[test]
    fn python_selectors() {
        let c = cat();
        let p = c.python(None).unwrap();
        assert_eq!(
            (p.version.as_str(), p.interpreter.as_str()),
            ("3.13", "python3.13")
        );
        assert_eq!(p.minor(), (3, 13));
        assert_eq!(p.glibc_minor(), 41);
        assert_eq!(c.python(Some("3.13.1")).unwrap().version, "3.13");
        let e = c.python(Some("3.12")).unwrap_err().to_string();
        assert!(e.contains("3.12") && e.contains("no source"), "{e}");
    }

    #[test]
    fn engines_ranges() {
        let c = cat();
        let pick = |r: &str| c.node_for_range(r).0.version;
        assert_eq!(pick(">=18"), "22.23.5");
        assert_eq!(pick("^20 || ^22"), "22.23.5");
        assert_eq!(pick(">=24"), "24.22.3");
        assert_eq!(pick("24.x"), "24.22.3");
        assert_eq!(pick(">= 22 < 23"), "22.23.5");
        let (n, why) = c.node_for_range("^16");
        assert_eq!(n.version, "22.23.5");
        assert!(why.contains("none"), "{why}");
    }

    #[test]
    fn project_files() {
        let c = cat();
        let dir = tempfile::tempdir().unwrap();
        assert!(c.node_for_project(dir.path()).is_none());
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"engines":{"node":">=24"}}"#,
        )
        .unwrap();
        assert_eq!(c.node_for_project(dir.path()).unwrap().0.version, "24.22.3");
        // .nvmrc wins over engines.
        std::fs::write(dir.path().join(".nvmrc"), "lts/jod\n").unwrap();
        let (n, why) = c.node_for_project(dir.path()).unwrap();
        assert_eq!(n.version, "22.23.5");
        assert!(why.contains(".nvmrc"));
        std::fs::remove_file(dir.path().join(".nvmrc")).unwrap();
        std::fs::write(dir.path().join(".node-version"), "v24.2.0\n").unwrap();
        assert_eq!(c.node_for_project(dir.path()).unwrap().0.version, "24.22.3");

        assert!(c.python_for_project(dir.path()).is_none());
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname = \"x\"\nrequires-python = \">=3.9\"\n",
        )
        .unwrap();
        assert_eq!(c.python_for_project(dir.path()).unwrap().0.version, "3.13");
        let (p, why) = c.python_for_specifiers(">=3.8,<3.13");
        assert_eq!(p.version, "3.13");
        assert!(why.contains("none"), "{why}");
        assert_eq!(c.python_for_specifiers("~=3.13.0").0.version, "3.13");
    }
}

//! A package manager's command line as the wrappers read it: flags (each with its value
//! when the flag takes one) apart from positionals, and the lookups both wrappers make
//! (a flag's value, its repeated values, the flags without some of them).

/// The command line split into flags (each with its value) and positionals.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Argv {
    /// Flags, with `--k v` kept as two elements.
    pub flags: Vec<String>,
    pub positionals: Vec<String>,
    /// The flags whose value is the next argument.
    value_flags: &'static [&'static str],
}

impl Argv {
    /// Splits `args`; with `dash_dash`, everything after `--` is positional (npm).
    pub fn parse(args: &[String], value_flags: &'static [&'static str], dash_dash: bool) -> Argv {
        let mut p = Argv {
            value_flags,
            ..Argv::default()
        };
        let mut it = args.iter();
        let mut rest_positional = false;
        while let Some(a) = it.next() {
            if rest_positional {
                p.positionals.push(a.clone());
            } else if dash_dash && a == "--" {
                rest_positional = true;
            } else if a.starts_with('-') && a.len() > 1 {
                p.flags.push(a.clone());
                if value_flags.contains(&a.as_str()) {
                    if let Some(v) = it.next() {
                        p.flags.push(v.clone());
                    }
                }
            } else {
                p.positionals.push(a.clone());
            }
        }
        p
    }

    /// The value of a flag (`--k v` or `--k=v`), last one winning.
    pub fn value(&self, names: &[&str]) -> Option<String> {
        let mut found = None;
        for (i, f) in self.flags.iter().enumerate() {
            for n in names {
                if f == n {
                    found = self.flags.get(i + 1).cloned();
                } else if let Some(v) = f.strip_prefix(&format!("{n}=")) {
                    found = Some(v.to_string());
                }
            }
        }
        found
    }

    /// Whether one of the flags is given bare (`--k`).
    pub fn has(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|f| names.contains(&f.as_str()))
    }

    /// Whether one of the flags is given, bare or as `--k=v`.
    pub fn has_any_form(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|f| {
            names
                .iter()
                .any(|n| f == n || f.starts_with(&format!("{n}=")))
        })
    }

    /// All values of a repeatable flag.
    pub fn values(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, f) in self.flags.iter().enumerate() {
            if f == name {
                out.extend(self.flags.get(i + 1).cloned());
            } else if let Some(v) = f.strip_prefix(&format!("{name}=")) {
                out.push(v.to_string());
            }
        }
        out
    }

    /// The flags without the named ones (and their values).
    pub fn without(&self, names: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.flags.len() {
            let f = &self.flags[i];
            if names.contains(&f.as_str()) {
                i += if self.value_flags.contains(&f.as_str()) {
                    2
                } else {
                    1
                };
                continue;
            }
            if !names.iter().any(|n| f.starts_with(&format!("{n}="))) {
                out.push(f.clone());
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_values_and_the_double_dash() {
        const VF: &[&str] = &["--registry"];
        let a = s(&["i", "--registry", "http://r", "--x=1", "--", "-not-a-flag"]);
        let npm = Argv::parse(&a, VF, true);
        assert_eq!(npm.positionals, s(&["i", "-not-a-flag"]));
        assert_eq!(npm.value(&["--registry"]).as_deref(), Some("http://r"));
        assert!(!npm.has(&["--x"]) && npm.has_any_form(&["--x"]));
        assert_eq!(npm.without(&["--registry"]), s(&["--x=1"]));
        let pip = Argv::parse(&a, VF, false);
        assert_eq!(pip.positionals, s(&["i"]));
        assert_eq!(
            pip.flags,
            s(&["--registry", "http://r", "--x=1", "--", "-not-a-flag"])
        );
    }
}

//! Conditions over event fields: operators (equals, glob, regex, CIDR, domain, numeric, ...)
//! applied to a field's values after its transforms (`transform.rs`). A rule's conditions are
//! checked once at load time and compiled again per trace, because patterns may name the
//! trace header's `${home}` and `${package_dir}`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::Range;

use regex::Regex;
use serde_json::Value;

use crate::fields::{extract, FieldPath, Leaf};

mod transform;

pub use transform::{apply_transforms, entropy, Transform, TRANSFORM_NAMES};

/// Values substituted for `${name}` in patterns.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub home: Option<String>,
    pub package_dir: Option<String>,
    /// The sandbox's host name (header note `hostname`), when long enough to be
    /// distinctive in outbound data.
    pub hostname: Option<String>,
    /// The user name: the last component of the home directory.
    pub user: Option<String>,
    /// The analyzed package's name (the header's), e.g. to tell a package's command
    /// named after itself from one named after another tool.
    pub package: Option<String>,
}

impl Vars {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "home" => self.home.as_deref(),
            "package_dir" => self.package_dir.as_deref(),
            "hostname" => self.hostname.as_deref(),
            "user" => self.user.as_deref(),
            "package" => self.package.as_deref(),
            _ => None,
        }
    }
}

/// The variable names a pattern may use.
pub const VAR_NAMES: &[&str] = &["home", "package_dir", "hostname", "user", "package"];

/// A pattern operator before binding: raw strings (lists already expanded).
#[derive(Debug, Clone)]
pub enum RawOp {
    Equals(Value),
    In(Vec<String>),
    Glob(Vec<String>),
    Regex(Vec<String>),
    Cidr(Vec<String>),
    Contains(Vec<String>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Domain(Vec<String>),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    BitsAny(u32),
}

/// A validated condition, not yet bound to a trace's variables.
#[derive(Debug, Clone)]
pub enum RawCond {
    Field {
        path: FieldPath,
        transforms: Vec<Transform>,
        ignore_case: bool,
        /// Operators with the span of their key, for bind errors.
        ops: Vec<(RawOp, Range<usize>)>,
        exists: Option<bool>,
    },
    All(Vec<RawCond>),
    Any(Vec<RawCond>),
    Not(Box<RawCond>),
}

#[derive(Debug, Clone)]
pub enum Op {
    EqStr(String),
    EqNum(f64),
    EqBool(bool),
    In(HashSet<String>),
    Regex(Regex),
    Cidr(Vec<(IpAddr, u8)>),
    Contains(Vec<String>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Domain(Vec<String>),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    BitsAny(u32),
    /// A pattern whose variables are unknown for this trace: never matches.
    Never,
}

/// A condition ready to evaluate.
#[derive(Debug, Clone)]
pub enum Cond {
    Field {
        /// The field expression (path and transforms) in the bound ruleset's [`Exprs`].
        expr: usize,
        ignore_case: bool,
        ops: Vec<Op>,
        exists: Option<bool>,
    },
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

/// A field path with its transforms: what a condition, join, capture or aggregate reads.
pub type Expr = (FieldPath, Vec<Transform>);

/// The distinct field expressions of a bound ruleset, numbered, so that each event
/// computes one expression once however many rules read it.
#[derive(Debug, Default)]
pub struct Exprs {
    ids: std::collections::HashMap<Expr, usize>,
    list: Vec<Expr>,
}

impl Exprs {
    /// The number of `path` with `transforms`, adding it when new.
    pub fn intern(&mut self, path: &FieldPath, transforms: &[Transform]) -> usize {
        let key = (path.clone(), transforms.to_vec());
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.list.len();
        self.list.push(key.clone());
        self.ids.insert(key, id);
        id
    }

    pub fn into_list(self) -> Vec<Expr> {
        self.list
    }
}

/// The values of one expression for the current event.
#[derive(Debug, Default)]
pub struct Vals {
    pub leaves: Vec<Leaf>,
    /// The leaves' text lowercased, computed when an `ignore_case` test first asks.
    lower: Option<Vec<String>>,
}

impl Vals {
    /// The values as text, in order.
    pub fn texts(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        self.leaves.iter().map(Leaf::text)
    }

    /// The values as owned text.
    pub fn to_texts(&self) -> Vec<String> {
        self.leaves.iter().map(Leaf::as_text).collect()
    }
}

/// One event's JSON form and the expressions computed from it so far. The evaluator
/// keeps one and resets it per event, so the slots' memory is reused.
#[derive(Debug)]
pub struct Memo {
    exprs: std::sync::Arc<[Expr]>,
    v: Value,
    slots: Vec<Option<Vals>>,
    touched: Vec<usize>,
}

impl Memo {
    pub fn new(exprs: std::sync::Arc<[Expr]>) -> Memo {
        let n = exprs.len();
        Memo {
            exprs,
            v: Value::Null,
            slots: (0..n).map(|_| None).collect(),
            touched: Vec::new(),
        }
    }

    /// Forgets the previous event's values and takes this event's JSON form.
    pub fn set_event(&mut self, v: Value) {
        for i in self.touched.drain(..) {
            self.slots[i] = None;
        }
        self.v = v;
    }

    /// The JSON form of the current event.
    pub fn value(&self) -> &Value {
        &self.v
    }

    fn fill(&mut self, id: usize) -> &mut Vals {
        let slot = &mut self.slots[id];
        if slot.is_none() {
            let (path, ts) = &self.exprs[id];
            let leaves = apply_transforms(extract(&self.v, path), ts);
            self.touched.push(id);
            *slot = Some(Vals {
                leaves,
                lower: None,
            });
        }
        match slot {
            Some(v) => v,
            None => unreachable!("slot filled above"),
        }
    }

    /// The values of expression `id` for the current event.
    pub fn vals(&mut self, id: usize) -> &Vals {
        self.fill(id)
    }

    fn vals_lower(&mut self, id: usize) -> &Vals {
        let v = self.fill(id);
        if v.lower.is_none() {
            v.lower = Some(v.leaves.iter().map(|l| l.text().to_lowercase()).collect());
        }
        v
    }
}

/// Replaces `${var}` in `s`; `None` when a variable has no value. `esc` escapes the value.
fn subst(s: &str, vars: &Vars, esc: &dyn Fn(&str) -> String) -> Result<Option<String>, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{s}`"))?;
        let name = &after[..end];
        if !VAR_NAMES.contains(&name) {
            return Err(format!(
                "unknown variable `${{{name}}}`; known: home, package_dir"
            ));
        }
        match vars.get(name) {
            Some(v) => out.push_str(&esc(v.trim_end_matches('/'))),
            None => return Ok(None),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// Translates a glob to an anchored regex: `**` any text, `*` any text without `/`, `?`
/// one character, `{a,b}` alternatives, `[...]` classes, `${var}` a literal.
pub fn glob_to_regex(glob: &str, vars: &Vars) -> Result<Option<String>, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    let mut in_brace = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '{' if !in_brace => {
                in_brace = true;
                re.push_str("(?:");
            }
            ',' if in_brace => re.push('|'),
            '}' if in_brace => {
                in_brace = false;
                re.push(')');
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&x| x == ']')
                    .ok_or_else(|| format!("unclosed `[` in glob `{glob}`"))?;
                let class: String = chars[i + 1..i + end].iter().collect();
                let class = class
                    .strip_prefix('!')
                    .map(|c| format!("^{c}"))
                    .unwrap_or(class);
                re.push('[');
                re.push_str(&class.replace('\\', "\\\\"));
                re.push(']');
                i += end;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let end = chars[i..]
                    .iter()
                    .position(|&x| x == '}')
                    .ok_or_else(|| format!("unclosed `${{` in glob `{glob}`"))?;
                let var: String = chars[i..=i + end].iter().collect();
                match subst(&var, vars, &|v| regex::escape(v))? {
                    Some(v) => re.push_str(&v),
                    None => return Ok(None),
                }
                i += end;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if in_brace {
        return Err(format!("unclosed `{{` in glob `{glob}`"));
    }
    re.push('$');
    Ok(Some(re))
}

fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = a
        .parse()
        .map_err(|_| format!("bad address in CIDR `{s}`"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let p: u8 = if p.is_empty() {
        max
    } else {
        p.parse().map_err(|_| format!("bad prefix in `{s}`"))?
    };
    if p > max {
        return Err(format!("prefix too long in `{s}`"));
    }
    Ok((ip, p))
}

fn in_cidr(ip: IpAddr, (net, p): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(p))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if p == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(p))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn bind_op(op: &RawOp, ci: bool, vars: &Vars) -> Result<Op, String> {
    let plain = |items: &[String]| -> Result<Vec<String>, String> {
        let mut v = Vec::new();
        for s in items {
            if let Some(x) = subst(s, vars, &|v| v.to_string())? {
                v.push(if ci { x.to_lowercase() } else { x });
            }
        }
        Ok(v)
    };
    let alternation = |parts: Vec<String>| -> Result<Op, String> {
        if parts.is_empty() {
            return Ok(Op::Never);
        }
        let body = parts
            .iter()
            .map(|p| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|");
        let re = if ci { format!("(?i){body}") } else { body };
        Regex::new(&re).map(Op::Regex).map_err(|e| e.to_string())
    };
    Ok(match op {
        RawOp::Equals(Value::String(s)) => match subst(s, vars, &|v| v.to_string())? {
            Some(x) => Op::EqStr(if ci { x.to_lowercase() } else { x }),
            None => Op::Never,
        },
        RawOp::Equals(Value::Bool(b)) => Op::EqBool(*b),
        RawOp::Equals(Value::Number(n)) => Op::EqNum(n.as_f64().unwrap_or(f64::NAN)),
        RawOp::Equals(v) => {
            return Err(format!(
                "`equals` takes a string, number or boolean, not {v}"
            ))
        }
        RawOp::In(items) => Op::In(plain(items)?.into_iter().collect()),
        RawOp::Contains(items) => Op::Contains(plain(items)?),
        RawOp::StartsWith(items) => Op::StartsWith(plain(items)?),
        RawOp::EndsWith(items) => Op::EndsWith(plain(items)?),
        RawOp::Domain(items) => Op::Domain(
            plain(items)?
                .into_iter()
                .map(|d| {
                    d.trim_end_matches('.')
                        .trim_start_matches('.')
                        .to_ascii_lowercase()
                })
                .collect(),
        ),
        RawOp::Regex(items) => {
            let mut parts = Vec::new();
            for s in items {
                if let Some(x) = subst(s, vars, &|v| regex::escape(v))? {
                    Regex::new(&x).map_err(|e| format!("bad regex `{s}`: {e}"))?;
                    parts.push(x);
                }
            }
            alternation(parts)?
        }
        RawOp::Glob(items) => {
            let mut parts = Vec::new();
            for s in items {
                if let Some(x) = glob_to_regex(s, vars)? {
                    parts.push(x);
                }
            }
            alternation(parts)?
        }
        RawOp::Cidr(items) => Op::Cidr(
            items
                .iter()
                .map(|s| parse_cidr(s))
                .collect::<Result<_, _>>()?,
        ),
        RawOp::Gt(n) => Op::Gt(*n),
        RawOp::Ge(n) => Op::Ge(*n),
        RawOp::Lt(n) => Op::Lt(*n),
        RawOp::Le(n) => Op::Le(*n),
        RawOp::BitsAny(b) => Op::BitsAny(*b),
    })
}

/// Binds a condition to the trace's variables, compiling its patterns. Errors carry the
/// span of the operator that failed.
pub fn bind(c: &RawCond, vars: &Vars) -> Result<Cond, (String, Range<usize>)> {
    bind_in(c, vars, &mut Exprs::default())
}

/// [`bind`], numbering the field expressions in `exprs`.
pub fn bind_in(
    c: &RawCond,
    vars: &Vars,
    exprs: &mut Exprs,
) -> Result<Cond, (String, Range<usize>)> {
    let all = |v: &[RawCond], exprs: &mut Exprs| -> Result<Vec<Cond>, (String, Range<usize>)> {
        v.iter().map(|c| bind_in(c, vars, exprs)).collect()
    };
    Ok(match c {
        RawCond::Field {
            path,
            transforms,
            ignore_case,
            ops,
            exists,
        } => {
            let mut bound = Vec::new();
            for (op, span) in ops {
                bound.push(bind_op(op, *ignore_case, vars).map_err(|e| (e, span.clone()))?);
            }
            Cond::Field {
                expr: exprs.intern(path, transforms),
                ignore_case: *ignore_case,
                ops: bound,
                exists: *exists,
            }
        }
        RawCond::All(v) => Cond::All(all(v, exprs)?),
        RawCond::Any(v) => Cond::Any(all(v, exprs)?),
        RawCond::Not(c) => Cond::Not(Box::new(bind_in(c, vars, exprs)?)),
    })
}

fn as_num(l: &Leaf) -> Option<f64> {
    match l {
        Leaf::Num(n) => Some(*n),
        Leaf::Str(s) => s.trim().parse().ok(),
        Leaf::Bool(_) => None,
    }
}

/// Whether `op` holds for one value: `text` is the value as text, `ci_text` the text the
/// case-insensitive operators compare (lowercased under `ignore_case`, else `text`).
fn op_holds(op: &Op, leaf: &Leaf, text: &str, ci_text: &str) -> bool {
    match op {
        Op::Never => false,
        Op::EqStr(s) => matches!(leaf, Leaf::Str(_)) && ci_text == s,
        Op::EqNum(n) => as_num(leaf) == Some(*n),
        Op::EqBool(b) => *leaf == Leaf::Bool(*b),
        Op::In(set) => set.contains(ci_text),
        Op::Regex(re) => re.is_match(text),
        Op::Cidr(nets) => match text.parse::<IpAddr>() {
            Ok(ip) => nets.iter().any(|n| in_cidr(ip, *n)),
            Err(_) => false,
        },
        Op::Contains(v) => v.iter().any(|s| ci_text.contains(s.as_str())),
        Op::StartsWith(v) => v.iter().any(|s| ci_text.starts_with(s.as_str())),
        Op::EndsWith(v) => v.iter().any(|s| ci_text.ends_with(s.as_str())),
        Op::Domain(v) => {
            // The domains are lowercase ASCII; compare without lowering a copy.
            let t = text.trim_end_matches('.').as_bytes();
            v.iter().any(|d| {
                let d = d.as_bytes();
                t.len() >= d.len()
                    && t[t.len() - d.len()..].eq_ignore_ascii_case(d)
                    && (t.len() == d.len() || t[t.len() - d.len() - 1] == b'.')
            })
        }
        Op::Gt(n) => as_num(leaf).is_some_and(|x| x > *n),
        Op::Ge(n) => as_num(leaf).is_some_and(|x| x >= *n),
        Op::Lt(n) => as_num(leaf).is_some_and(|x| x < *n),
        Op::Le(n) => as_num(leaf).is_some_and(|x| x <= *n),
        Op::BitsAny(b) => as_num(leaf).is_some_and(|x| x >= 0.0 && (x as u64) & u64::from(*b) != 0),
    }
}

impl Cond {
    /// Evaluates the condition on the current event of `m`.
    pub fn eval(&self, m: &mut Memo) -> bool {
        match self {
            Cond::Field {
                expr,
                ignore_case,
                ops,
                exists,
            } => {
                let ci = *ignore_case && !ops.is_empty();
                let vals = if ci {
                    m.vals_lower(*expr)
                } else {
                    m.vals(*expr)
                };
                if let Some(want) = exists {
                    if vals.leaves.is_empty() == *want {
                        return false;
                    }
                }
                if ops.is_empty() {
                    return exists.is_some() || !vals.leaves.is_empty();
                }
                let lower = vals.lower.as_deref().filter(|_| ci);
                vals.leaves.iter().enumerate().any(|(i, l)| {
                    let text = l.text();
                    let ci_text = lower.map_or(&*text, |lw| lw[i].as_str());
                    ops.iter().all(|op| op_holds(op, l, &text, ci_text))
                })
            }
            Cond::All(v) => v.iter().all(|c| c.eval(m)),
            Cond::Any(v) => v.iter().any(|c| c.eval(m)),
            Cond::Not(c) => !c.eval(m),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            home: Some("/home/u".into()),
            package_dir: Some("/p/node_modules/x".into()),
            hostname: Some("build-host-7".into()),
            user: Some("u".into()),
            package: Some("x".into()),
        }
    }

    fn re(g: &str) -> Regex {
        Regex::new(&glob_to_regex(g, &vars()).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn globs() {
        assert!(re("${home}/.ssh/id_*").is_match("/home/u/.ssh/id_rsa"));
        assert!(!re("${home}/.ssh/id_*").is_match("/home/u/.ssh/x/id_rsa"));
        assert!(re("**/.git/hooks/*").is_match("/w/proj/.git/hooks/pre-commit"));
        assert!(re("/tmp/{a,b}?.[!x]").is_match("/tmp/b1.y"));
        assert!(!re("/tmp/{a,b}?.[!x]").is_match("/tmp/b1.x"));
        assert!(glob_to_regex("${nope}/x", &vars()).is_err());
        assert_eq!(glob_to_regex("${home}/x", &Vars::default()).unwrap(), None);
    }

    #[test]
    fn cidr_and_domain() {
        let ci = bind_op(
            &RawOp::Cidr(vec!["10.0.0.0/8".into(), "::1".into()]),
            false,
            &vars(),
        )
        .unwrap();
        let holds = |op: &Op, s: &str| op_holds(op, &Leaf::Str(s.into()), s, s);
        assert!(holds(&ci, "10.2.3.4"));
        assert!(!holds(&ci, "11.2.3.4"));
        assert!(holds(&ci, "::1"));
        let d = bind_op(&RawOp::Domain(vec!["ngrok.io".into()]), false, &vars()).unwrap();
        assert!(holds(&d, "abc.ngrok.io."));
        assert!(holds(&d, "NGROK.io"));
        assert!(holds(&d, "ngrok.io"));
        assert!(!holds(&d, "notngrok.io"));
        assert!(!holds(&d, "io"));
    }
}

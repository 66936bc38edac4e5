//! Conditions over event fields: transforms (basename, DNS labels, decoding, entropy, ...)
//! and operators (equals, glob, regex, CIDR, domain, numeric, ...). A rule's conditions are
//! checked once at load time and compiled again per trace, because patterns may name the
//! trace header's `${home}` and `${package_dir}`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::Range;

use base64::Engine as _;
use regex::Regex;
use serde_json::Value;

use crate::fields::{extract, FieldPath, Leaf};

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
}

impl Vars {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "home" => self.home.as_deref(),
            "package_dir" => self.package_dir.as_deref(),
            "hostname" => self.hostname.as_deref(),
            "user" => self.user.as_deref(),
            _ => None,
        }
    }
}

/// The variable names a pattern may use.
pub const VAR_NAMES: &[&str] = &["home", "package_dir", "hostname", "user"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    Lower,
    Basename,
    Dirname,
    DnsParent,
    DnsSub,
    DnsLabels,
    Words,
    TryDecode,
    Decode,
    UrlDecode,
    EnvKeys,
    EnvKnown,
    Length,
    Entropy,
    Count,
}

pub const TRANSFORM_NAMES: &[&str] = &[
    "lower",
    "basename",
    "dirname",
    "dns_parent",
    "dns_sub",
    "dns_labels",
    "words",
    "try_decode",
    "decode",
    "url_decode",
    "env_keys",
    "env_known",
    "length",
    "entropy",
    "count",
];

impl Transform {
    pub fn parse(s: &str) -> Option<Transform> {
        Some(match s {
            "lower" => Transform::Lower,
            "basename" => Transform::Basename,
            "dirname" => Transform::Dirname,
            "dns_parent" => Transform::DnsParent,
            "dns_sub" => Transform::DnsSub,
            "dns_labels" => Transform::DnsLabels,
            "words" => Transform::Words,
            "try_decode" => Transform::TryDecode,
            "decode" => Transform::Decode,
            "url_decode" => Transform::UrlDecode,
            "env_keys" => Transform::EnvKeys,
            "env_known" => Transform::EnvKnown,
            "length" => Transform::Length,
            "entropy" => Transform::Entropy,
            "count" => Transform::Count,
            _ => return None,
        })
    }
}

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

// ---- transforms ---------------------------------------------------------------------

const SECOND_LEVEL: &[&str] = &["co", "com", "net", "org", "gov", "ac", "edu"];

/// Splits a DNS name into (subdomain labels, parent domain), the parent being the last
/// two labels (three under `co.uk`-like suffixes).
pub fn dns_split(name: &str) -> (Vec<&str>, String) {
    let name = name.trim_end_matches('.');
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    let keep = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    let keep = keep.min(n);
    (
        labels[..n - keep].to_vec(),
        labels[n - keep..].join(".").to_ascii_lowercase(),
    )
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

fn printable_text(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    let good = s
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    if s.chars().count() >= 4 && good * 10 >= s.chars().count() * 9 {
        Some(s.to_string())
    } else {
        None
    }
}

/// Bytes out of gzip or zlib, when `bytes` starts like one (capped at 1 MiB).
fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    const CAP: u64 = 1 << 20;
    let mut out = Vec::new();
    let ok = match bytes {
        [0x1f, 0x8b, ..] => flate2::read::MultiGzDecoder::new(bytes)
            .take(CAP)
            .read_to_end(&mut out)
            .is_ok(),
        [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..] => flate2::read::ZlibDecoder::new(bytes)
            .take(CAP)
            .read_to_end(&mut out)
            .is_ok(),
        _ => false,
    };
    (ok && !out.is_empty()).then_some(out)
}

/// Printable text out of decoded bytes, looking through one gzip/zlib layer.
fn decoded_text(bytes: &[u8]) -> Option<String> {
    printable_text(bytes).or_else(|| inflate(bytes).and_then(|b| printable_text(&b)))
}

/// RFC 4648 base32 in one case (DNS tunnels lowercase it), padding optional. `None` for
/// anything else, including strings that are not all one case.
fn base32_decode(t: &str) -> Option<Vec<u8>> {
    let t = t.trim_end_matches('=');
    let lower = t
        .bytes()
        .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c));
    let upper = t
        .bytes()
        .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c));
    if !(lower || upper) || matches!(t.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(t.len() * 5 / 8);
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in t.bytes() {
        let v = match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => c - b'a',
            c => c - b'2' + 26,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn try_decode_one(token: &str) -> Option<String> {
    let t = token.trim();
    if t.len() >= 16 && t.len().is_multiple_of(2) && t.chars().all(|c| c.is_ascii_hexdigit()) {
        if let Ok(b) = hex::decode(t) {
            return decoded_text(&b);
        }
    }
    if t.len() >= 16 {
        if let Some(d) = base32_decode(t).and_then(|b| decoded_text(&b)) {
            return Some(d);
        }
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(t).ok().and_then(|b| decoded_text(&b)))
}

/// What one layer of decoding gives: the whole string (without a `base64:` prefix and
/// whitespace) and each long base64/hex token in it (at most 8).
fn decode_layer(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let body = s.strip_prefix("base64:").unwrap_or(s);
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(d) = try_decode_one(&compact) {
        out.push(d);
    }
    let mut tokens = 0;
    for tok in body.split(|c: char| !(c.is_ascii_alphanumeric() || "+/_-".contains(c))) {
        if tok.len() >= 24 && tok.len() != compact.trim_end_matches('=').len() {
            if let Some(d) = try_decode_one(tok) {
                out.push(d);
                tokens += 1;
                if tokens >= 8 {
                    break;
                }
            }
        }
    }
    out
}

/// Layers of encoding looked through: `base64(base64(base64(x)))` (the Nx "s1ngularity"
/// stealer) is three; gzip/zlib inside a layer does not count.
const DECODE_DEPTH: usize = 3;

/// Only what the string decodes to, through up to [`DECODE_DEPTH`] layers (each layer's
/// result is kept); empty when nothing decodes.
fn decoded_only(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut frontier = vec![s.to_string()];
    for _ in 0..DECODE_DEPTH {
        let next: Vec<String> = frontier.iter().flat_map(|f| decode_layer(f)).collect();
        if next.is_empty() {
            break;
        }
        out.extend(next.iter().cloned());
        frontier = next;
        if out.len() >= 32 {
            break;
        }
    }
    out
}

/// The string, plus what it decodes to when it (or a long token in it) is base64 or hex.
fn decode_variants(s: &str) -> Vec<String> {
    let mut out = vec![s.to_string()];
    out.extend(decoded_only(s));
    out
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Environment variable names that show a whole environment was serialised.
const WELL_KNOWN_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "SHELL",
    "PWD",
    "OLDPWD",
    "HOSTNAME",
    "LANG",
    "TERM",
    "LOGNAME",
    "TMPDIR",
    "NODE",
    "NODE_OPTIONS",
    "INIT_CWD",
    "SHLVL",
    "EDITOR",
    "MAIL",
    "LC_ALL",
    "NODE_ENV",
    "CI",
    "GITHUB_TOKEN",
    "NPM_TOKEN",
    "HOMEPATH",
    "USERNAME",
    "COMPUTERNAME",
    "USERPROFILE",
    "APPDATA",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "_",
];

fn env_key_candidates(s: &str) -> HashSet<String> {
    // `KEY=value` pairs and JSON `"KEY":` keys.
    static PATTERNS: std::sync::OnceLock<Option<(Regex, Regex)>> = std::sync::OnceLock::new();
    let Some((pair, json)) = PATTERNS
        .get_or_init(|| {
            Some((
                Regex::new(r#"(?:^|[\s&;,"'{(\[])([A-Za-z_][A-Za-z0-9_]{0,63})="#).ok()?,
                Regex::new(r#""([A-Za-z_][A-Za-z0-9_]{0,63})"\s*:"#).ok()?,
            ))
        })
        .as_ref()
    else {
        return HashSet::new();
    };
    pair.captures_iter(s)
        .chain(json.captures_iter(s))
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .collect()
}

fn looks_like_env_name(k: &str) -> bool {
    k.starts_with("npm_config_")
        || k.starts_with("npm_package_")
        || k.starts_with("npm_lifecycle_")
        || (k.len() >= 2
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && k.chars().any(|c| c.is_ascii_uppercase()))
}

fn apply_one(t: Transform, leaves: Vec<Leaf>) -> Vec<Leaf> {
    let strs = |f: &dyn Fn(&str) -> Vec<Leaf>| -> Vec<Leaf> {
        leaves.iter().flat_map(|l| f(&l.as_text())).collect()
    };
    match t {
        Transform::Lower => strs(&|s| vec![Leaf::Str(s.to_lowercase())]),
        Transform::Basename => strs(&|s| {
            vec![Leaf::Str(
                s.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(s)
                    .to_string(),
            )]
        }),
        Transform::Dirname => strs(&|s| {
            vec![Leaf::Str(
                s.trim_end_matches('/')
                    .rsplit_once('/')
                    .map(|(d, _)| d)
                    .unwrap_or("")
                    .to_string(),
            )]
        }),
        Transform::DnsParent => strs(&|s| vec![Leaf::Str(dns_split(s).1)]),
        Transform::DnsSub => strs(&|s| {
            let (sub, _) = dns_split(s);
            if sub.is_empty() {
                vec![]
            } else {
                vec![Leaf::Str(sub.join(".").to_ascii_lowercase())]
            }
        }),
        Transform::DnsLabels => strs(&|s| {
            dns_split(s)
                .0
                .into_iter()
                .map(|l| Leaf::Str(l.to_string()))
                .collect()
        }),
        Transform::Words => strs(&|s| {
            s.split_whitespace()
                .map(|w| Leaf::Str(w.to_string()))
                .collect()
        }),
        Transform::TryDecode => strs(&|s| decode_variants(s).into_iter().map(Leaf::Str).collect()),
        Transform::Decode => strs(&|s| decoded_only(s).into_iter().map(Leaf::Str).collect()),
        Transform::UrlDecode => strs(&|s| vec![Leaf::Str(url_decode(s))]),
        Transform::EnvKeys => strs(&|s| {
            let n = env_key_candidates(s)
                .iter()
                .filter(|k| looks_like_env_name(k))
                .count();
            vec![Leaf::Num(n as f64)]
        }),
        Transform::EnvKnown => strs(&|s| {
            let keys = env_key_candidates(s);
            let n = WELL_KNOWN_ENV.iter().filter(|k| keys.contains(**k)).count()
                + keys
                    .iter()
                    .filter(|k| k.starts_with("npm_config_"))
                    .count()
                    .min(3);
            vec![Leaf::Num(n as f64)]
        }),
        Transform::Length => strs(&|s| vec![Leaf::Num(s.chars().count() as f64)]),
        Transform::Entropy => strs(&|s| vec![Leaf::Num(entropy(s))]),
        Transform::Count => vec![Leaf::Num(leaves.len() as f64)],
    }
}

pub fn apply_transforms(mut leaves: Vec<Leaf>, ts: &[Transform]) -> Vec<Leaf> {
    for t in ts {
        leaves = apply_one(*t, leaves);
    }
    leaves
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

    #[test]
    fn transforms() {
        let s = |x: &str| vec![Leaf::Str(x.into())];
        assert_eq!(
            apply_transforms(s("a.b.evil.co.uk"), &[Transform::DnsParent]),
            s("evil.co.uk")
        );
        assert_eq!(
            apply_transforms(
                s("x1.y2.oast.fun"),
                &[Transform::DnsLabels, Transform::Count]
            ),
            vec![Leaf::Num(2.0)]
        );
        assert!(entropy("aaaa") < 0.01);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        let env = "PATH=/usr/bin&HOME=/root&USER=x&npm_config_cache=/c&lower=1";
        assert_eq!(
            apply_transforms(s(env), &[Transform::EnvKeys]),
            vec![Leaf::Num(4.0)]
        );
        let js = r#"{"PATH":"/usr/bin","HOME":"/root","SHELL":"/bin/sh","name":"x"}"#;
        assert_eq!(
            apply_transforms(s(js), &[Transform::EnvKnown]),
            vec![Leaf::Num(3.0)]
        );
        let dec = apply_transforms(
            s("base64:aGVsbG8gd29ybGQgZnJvbSBiYXNlNjQ="),
            &[Transform::TryDecode],
        );
        assert!(
            dec.contains(&Leaf::Str("hello world from base64".into())),
            "{dec:?}"
        );
        let tok = apply_transforms(
            s("exec(b64decode('aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImlkIik='))"),
            &[Transform::TryDecode],
        );
        assert!(
            tok.iter().any(|l| l.as_text().contains("os.system")),
            "{tok:?}"
        );
        assert_eq!(url_decode("a%3Db+c%"), "a=b c%");
    }

    #[test]
    fn decode_looks_through_layers_and_compression() {
        use base64::Engine;
        use std::io::Write;
        let s = |x: &str| vec![Leaf::Str(x.into())];
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        // `decode` gives nothing for text that is not encoded
        assert!(apply_transforms(s("registry"), &[Transform::Decode]).is_empty());
        assert!(apply_transforms(s("a3f9c2e18b7d4f6a0c1e2d3b"), &[Transform::Decode]).is_empty());
        // hex of text in a DNS label
        let label = hex::encode("/home/u/project|runner");
        let d = apply_transforms(s(&label), &[Transform::Decode]);
        assert_eq!(d, s("/home/u/project|runner"));
        // lowercase base32 in a DNS label; ordinary long words do not decode
        let d = apply_transforms(
            s("oj2w43tfojage5ljnrsc2ylhmvxhiljqgixgyylofy"),
            &[Transform::Decode],
        );
        assert_eq!(d, s("runner@build-agent-02.lan."));
        assert!(
            apply_transforms(s("thisisaverylongsubdomainname"), &[Transform::Decode]).is_empty()
        );
        // base64(gzip(json)) inside a JSON body
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"HOME":"/home/u","PATH":"/usr/bin"}"#)
            .unwrap();
        let body = format!(r#"{{"content":"{}"}}"#, b64(&gz.finish().unwrap()));
        let d = apply_transforms(s(&body), &[Transform::TryDecode]);
        assert!(
            d.iter()
                .any(|l| l.as_text().contains(r#""HOME":"/home/u""#)),
            "{d:?}"
        );
        // three layers of base64
        let three = b64(b64(b64(b"token=npm_abcdefghijklmnop").as_bytes()).as_bytes());
        let d = apply_transforms(s(&three), &[Transform::Decode]);
        assert!(
            d.iter()
                .any(|l| l.as_text() == "token=npm_abcdefghijklmnop"),
            "{d:?}"
        );
    }
}

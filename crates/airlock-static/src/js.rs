//! JavaScript analysis with a real parser (`oxc_parser`).
//!
//! Why a parser and not only regexes: "is the argument of this `eval` a decode call",
//! "is this `push(shift())` the rotation of a string array", and "what do identifiers in
//! this file look like" are questions about the syntax tree. A regex sees `eval(` in a
//! comment or a string and cannot tell a minified bundle (short but ordinary identifiers)
//! from obfuscator output (`_0x3f2a` identifiers, string arrays). oxc parses tens of MB
//! per second, so the parser costs little. When oxc gives up on a file (broken or exotic
//! syntax), the same questions are answered lexically and a `parse-fallback` signal says
//! so.

use std::collections::{HashMap, HashSet};

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, ArrayExpression, ArrayExpressionElement, AssignmentExpression, AssignmentTarget,
    BindingIdentifier, BindingPattern, CallExpression, Expression, IdentifierReference,
    NewExpression, VariableDeclarator,
};
use oxc_ast_visit::{walk, Visit};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType, Span};

use crate::code::looks_minified;
use crate::text::{entropy, regexes, round2, Lines};
use crate::{ids, JsOutcome, Signal};

regexes! {
    RE_DECODER = r#"\batob\s*\(|Buffer\.from\s*\(|\bBuffer\s*\[|new\s+Buffer\s*\(|fromCharCode|\bunescape\s*\(|decodeURIComponent\s*\(|(?:inflate|inflateRaw|gunzip|unzip|brotliDecompress)Sync\s*\(|\.toString\(\s*['"](?:base64|hex|binary|latin1)|['"]base64['"]|split\(\s*['"]['"]\s*\)\s*\.\s*reverse\(|\bdecode\w*\s*\(|createDecipheriv\s*\(|\.decrypt\s*\("#;
    RE_HEX_ID = r"\b_0x[0-9a-fA-F]{4,}\b";
    RE_LEX_EVAL = r#"(?:\beval|\bFunction|\brunInThisContext|\brunInNewContext|\brunInContext|\bcompileFunction|\b_compile)\s*\("#;
    RE_LEX_ROTATION = r#"(?:\[\s*['"]push['"]\s*\]|\.push)\s*\(\s*[\w$]+\s*(?:\[\s*['"]shift['"]\s*\]|\.shift)\s*\(\s*\)\s*\)"#;
    RE_OBFUSCATOR_MARK = r"while\s*\(\s*!!\[\]\s*\)|parseInt\(\s*_0x[0-9a-f]+\(|\b_0x[0-9a-f]+\s*=\s*_0x[0-9a-f]+\s*-\s*0x[0-9a-f]+";
}

/// A fast non-cryptographic hasher for the identifier set (FxHash's multiply-rotate):
/// identifiers are hashed millions of times per big bundle, and SipHash's DoS
/// resistance buys nothing for a set that lives for one file.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<Fx>;

/// Identifier shape and suspicious constructs collected from one syntax tree.
#[derive(Default)]
struct Collector<'s> {
    src: &'s str,
    names: HashSet<&'s str, FxBuild>,
    ident_total: usize,
    ident_len_sum: usize,
    escaped_idents: usize,
    first_escaped: Option<u32>,
    /// Variables assigned from a decode expression.
    decoded_vars: HashSet<String>,
    /// (offset, sink, argument excerpt, decoded?)
    code_sinks: Vec<(u32, String, String, bool)>,
    rotations: Vec<u32>,
    /// Largest array literal made (almost) only of strings: (offset, size).
    string_array: Option<(u32, usize)>,
}

impl<'s> Collector<'s> {
    fn text(&self, span: Span) -> &'s str {
        self.src
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    fn ident(&mut self, name: &'s str, span: Span) {
        self.ident_total += 1;
        self.ident_len_sum += name.len();
        self.names.insert(name);
        if self.text(span).contains("\\u") {
            self.escaped_idents += 1;
            self.first_escaped.get_or_insert(span.start);
        }
    }

    fn is_decoding(&self, text: &str) -> bool {
        if RE_DECODER.as_ref().is_some_and(|re| re.is_match(text)) {
            return true;
        }
        // A bare identifier (or call of one) that was assigned from a decoder.
        let head: String = text
            .trim_start_matches(['(', ' '])
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect();
        !head.is_empty() && self.decoded_vars.contains(&head)
    }

    fn sink(&mut self, offset: u32, sink: &str, args: &[Argument<'_>]) {
        if args.is_empty() {
            return;
        }
        // Literal code (`Function("return this")`) is what bundlers emit; not a signal.
        if args.iter().all(|a| matches!(a, Argument::StringLiteral(_))) {
            return;
        }
        if args
            .iter()
            .any(|a| matches!(a, Argument::TemplateLiteral(t) if t.expressions.is_empty()))
        {
            return;
        }
        let start = args.first().map(|a| a.span().start).unwrap_or(0);
        let end = args.last().map(|a| a.span().end).unwrap_or(0);
        let text = self.text(Span::new(start, end));
        let decoded = self.is_decoding(text);
        let excerpt: String = text.chars().take(120).collect();
        self.code_sinks
            .push((offset, sink.to_string(), excerpt, decoded));
    }
}

fn callee_name<'a>(e: &'a Expression<'_>) -> Option<&'a str> {
    match e.without_parentheses() {
        Expression::Identifier(id) => Some(id.name.as_str()),
        e => e
            .as_member_expression()
            .and_then(|m| m.static_property_name()),
    }
}

fn member_object_text<'s>(e: &Expression<'_>, src: &'s str) -> Option<&'s str> {
    let m = e.without_parentheses().as_member_expression()?;
    let sp = m.object().span();
    src.get(sp.start as usize..sp.end as usize)
}

const VM_SINKS: &[&str] = &[
    "runInThisContext",
    "runInNewContext",
    "runInContext",
    "compileFunction",
    "_compile",
];

impl<'a, 's> Visit<'a> for Collector<'s>
where
    'a: 's,
{
    fn visit_binding_identifier(&mut self, it: &BindingIdentifier<'a>) {
        self.ident(it.name.as_str(), it.span);
    }

    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        self.ident(it.name.as_str(), it.span);
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        if let (BindingPattern::BindingIdentifier(id), Some(init)) = (&it.id, &it.init) {
            let text = self.text(init.span());
            if self.is_decoding(text) {
                self.decoded_vars.insert(id.name.as_str().to_string());
            }
        }
        walk::walk_variable_declarator(self, it);
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        if let AssignmentTarget::AssignmentTargetIdentifier(id) = &it.left {
            let text = self.text(it.right.span());
            if self.is_decoding(text) {
                self.decoded_vars.insert(id.name.as_str().to_string());
            }
        }
        walk::walk_assignment_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        match callee_name(&it.callee) {
            Some("eval")
                if matches!(it.callee.without_parentheses(), Expression::Identifier(_)) =>
            {
                self.sink(it.span.start, "eval", &it.arguments)
            }
            Some("Function")
                if matches!(it.callee.without_parentheses(), Expression::Identifier(_)) =>
            {
                self.sink(it.span.start, "Function", &it.arguments)
            }
            Some(name) if VM_SINKS.contains(&name) => self.sink(it.span.start, name, &it.arguments),
            Some("push") => {
                // arr.push(arr.shift()): the rotation loop of an obfuscator string array.
                if let Some(Argument::CallExpression(inner)) = it.arguments.first() {
                    if callee_name(&inner.callee) == Some("shift") {
                        let a = member_object_text(&it.callee, self.src);
                        let b = member_object_text(&inner.callee, self.src);
                        if a.is_some() && a == b {
                            self.rotations.push(it.span.start);
                        }
                    }
                }
            }
            _ => {}
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        match callee_name(&it.callee) {
            Some("Function") => self.sink(it.span.start, "new Function", &it.arguments),
            Some("Script") => self.sink(it.span.start, "new vm.Script", &it.arguments),
            _ => {}
        }
        walk::walk_new_expression(self, it);
    }

    fn visit_array_expression(&mut self, it: &ArrayExpression<'a>) {
        let n = it.elements.len();
        if n >= 10 {
            let strings = it
                .elements
                .iter()
                .filter(|e| matches!(e, ArrayExpressionElement::StringLiteral(_)))
                .count();
            if strings * 10 >= n * 9 && self.string_array.is_none_or(|(_, m)| n > m) {
                self.string_array = Some((it.span.start, n));
            }
        }
        walk::walk_array_expression(self, it);
    }
}

/// What the analysis learned, independent of how (parser or lexer).
struct Facts {
    distinct_idents: usize,
    avg_ident_len: f64,
    hex_idents: usize,
    first_hex: Option<usize>,
    escaped_idents: usize,
    first_escaped: Option<usize>,
    sinks: Vec<(usize, String, String, bool)>,
    rotations: Vec<usize>,
    string_array: Option<(usize, usize)>,
}

/// Parses one JavaScript/TypeScript file and adds code signals to `out`.
pub fn analyze(rel: &str, src: &str, typescript: bool, out: &mut Vec<Signal>) -> JsOutcome {
    let allocator = Allocator::default();
    let source_type = if typescript {
        SourceType::ts()
    } else if rel.ends_with(".jsx") {
        SourceType::jsx()
    } else {
        SourceType::unambiguous()
    };
    let ret = Parser::new(&allocator, src, source_type).parse();
    let usable = !ret.panicked && (ret.diagnostics.is_empty() || !ret.program.body.is_empty());
    let (facts, outcome) = if usable {
        let mut c = Collector {
            src,
            ..Default::default()
        };
        c.visit_program(&ret.program);
        let hex: Vec<&str> = c
            .names
            .iter()
            .copied()
            .filter(|n| is_hex_ident(n))
            .collect();
        let first_hex = hex.iter().filter_map(|n| src.find(n)).min();
        let facts = Facts {
            distinct_idents: c.names.len(),
            avg_ident_len: if c.ident_total == 0 {
                0.0
            } else {
                c.ident_len_sum as f64 / c.ident_total as f64
            },
            hex_idents: hex.len(),
            first_hex,
            escaped_idents: c.escaped_idents,
            first_escaped: c.first_escaped.map(|o| o as usize),
            sinks: c
                .code_sinks
                .into_iter()
                .map(|(o, s, e, d)| (o as usize, s, e, d))
                .collect(),
            rotations: c.rotations.into_iter().map(|o| o as usize).collect(),
            string_array: c.string_array.map(|(o, n)| (o as usize, n)),
        };
        (facts, JsOutcome::Parsed)
    } else {
        let first_error = ret
            .diagnostics
            .first()
            .map(|d| d.to_string())
            .unwrap_or_default();
        out.push(Signal::new(
            ids::PARSE_FALLBACK,
            rel,
            None,
            format!(
                "oxc could not parse the file ({}); lexical scan only",
                crate::text::clip(&first_error, 120)
            ),
        ));
        (lexical_facts(src), JsOutcome::Fallback)
    };
    emit(rel, src, &facts, out);
    outcome
}

fn is_hex_ident(n: &str) -> bool {
    n.len() >= 7 && n.starts_with("_0x") && n[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The same facts from regexes, for files the parser rejected.
fn lexical_facts(src: &str) -> Facts {
    let mut hex = HashSet::new();
    let mut first_hex = None;
    if let Some(re) = &*RE_HEX_ID {
        for m in re.find_iter(src) {
            first_hex.get_or_insert(m.start());
            hex.insert(m.as_str());
        }
    }
    let mut idents: HashMap<&str, usize> = HashMap::new();
    let mut word_start = None;
    for (i, c) in src.char_indices().chain(std::iter::once((src.len(), ' '))) {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            word_start.get_or_insert(i);
        } else if let Some(s) = word_start.take() {
            let w = &src[s..i];
            if !w.starts_with(|c: char| c.is_ascii_digit()) {
                *idents.entry(w).or_insert(0) += 1;
            }
        }
    }
    let total: usize = idents.values().sum();
    let len_sum: usize = idents.iter().map(|(w, n)| w.len() * n).sum();
    let mut sinks = Vec::new();
    let mut decoded_vars: HashSet<String> = HashSet::new();
    if let Some(re) = &*RE_DECODER {
        // `var x = atob(...)` style taint, lexically.
        for line in src.lines() {
            if let Some((lhs, rhs)) = line.split_once('=') {
                if re.is_match(rhs) {
                    if let Some(name) = lhs.split_whitespace().last() {
                        decoded_vars.insert(name.to_string());
                    }
                }
            }
        }
    }
    if let Some(re) = &*RE_LEX_EVAL {
        for m in re.find_iter(src) {
            let after = &src[m.end()..];
            let mut end = after.len().min(400);
            while !after.is_char_boundary(end) {
                end -= 1;
            }
            let arg = &after[..end];
            let arg_trim = arg.trim_start();
            if arg_trim.starts_with(')')
                || arg_trim.starts_with('"')
                    && arg_trim[1..]
                        .find('"')
                        .is_some_and(|i| arg_trim[i + 2..].trim_start().starts_with(')'))
            {
                continue;
            }
            let head: String = arg_trim
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                .collect();
            let decoded = RE_DECODER.as_ref().is_some_and(|re| re.is_match(arg))
                || decoded_vars.contains(&head);
            let sink = m.as_str().trim_end_matches(['(', ' ']).to_string();
            sinks.push((m.start(), sink, arg.chars().take(120).collect(), decoded));
        }
    }
    let rotations = RE_LEX_ROTATION
        .as_ref()
        .map(|re| re.find_iter(src).map(|m| m.start()).collect())
        .unwrap_or_default();
    Facts {
        distinct_idents: idents.len(),
        avg_ident_len: if total == 0 {
            0.0
        } else {
            len_sum as f64 / total as f64
        },
        hex_idents: hex.len(),
        first_hex,
        escaped_idents: 0,
        first_escaped: None,
        sinks,
        rotations,
        string_array: None,
    }
}

fn emit(rel: &str, src: &str, f: &Facts, out: &mut Vec<Signal>) {
    let lines = Lines::new(src);
    let h = entropy(src.as_bytes());
    let mut reasons = Vec::new();

    if f.hex_idents >= 5 && (f.hex_idents * 10 >= f.distinct_idents || f.hex_idents >= 50) {
        reasons.push("hex identifiers");
        out.push(
            Signal::new(
                ids::HEX_IDENTIFIERS,
                rel,
                f.first_hex.map(|o| lines.line_of(o)),
                format!(
                    "{} distinct _0x… identifiers of {}",
                    f.hex_idents, f.distinct_idents
                ),
            )
            .with_value(f.hex_idents as f64),
        );
    }
    if f.escaped_idents >= 3 {
        reasons.push("unicode-escaped identifiers");
        out.push(
            Signal::new(
                ids::ESCAPED_IDENTIFIERS,
                rel,
                f.first_escaped.map(|o| lines.line_of(o)),
                format!("{} identifiers written with \\u escapes", f.escaped_idents),
            )
            .with_value(f.escaped_idents as f64),
        );
    }
    // Rotation of a string array: a push(shift()) next to a string array or obfuscator
    // identifiers. A lone queue rotation in ordinary code is not enough.
    if let Some(&first) = f.rotations.first() {
        let backed = f.string_array.is_some() || f.hex_idents >= 5;
        if backed {
            reasons.push("string-array rotation");
            let size = f.string_array.map(|(_, n)| n).unwrap_or(0);
            out.push(
                Signal::new(
                    ids::STRING_ARRAY_ROTATION,
                    rel,
                    Some(lines.line_of(first)),
                    format!(
                        "array rotated with push(shift()); largest string array has {size} entries"
                    ),
                )
                .with_value(size as f64),
            );
        }
    }
    if let Some(re) = &*RE_OBFUSCATOR_MARK {
        let n = re.find_iter(src).count();
        let bangs = src.matches("!![]").count();
        if n >= 1 && (f.hex_idents >= 5 || bangs >= 3) {
            reasons.push("javascript-obfuscator patterns");
            let first = re.find(src).map(|m| lines.line_of(m.start()));
            out.push(
                Signal::new(
                    ids::OBFUSCATOR_PATTERN,
                    rel,
                    first,
                    format!("{n} javascript-obfuscator markers (while(!![]), parseInt(_0x…(), offset decoders), {bangs} !![]"),
                )
                .with_value(n as f64),
            );
        }
    }
    let mut decode_evals = 0;
    for (off, sink, excerpt, decoded) in &f.sinks {
        let (id, what) = if *decoded {
            decode_evals += 1;
            (ids::DECODE_EVAL, "decoded data")
        } else {
            (ids::DYNAMIC_CODE, "a computed value")
        };
        out.push(Signal::new(
            id,
            rel,
            Some(lines.line_of(*off)),
            format!("{sink}() runs {what}: {}", excerpt.replace('\n', " ")),
        ));
    }
    if decode_evals > 0 && !reasons.is_empty() {
        reasons.push("decode-then-eval");
    }
    let minified = looks_minified(src);
    if !reasons.is_empty() {
        out.push(
            Signal::new(
                ids::OBFUSCATED,
                rel,
                None,
                format!(
                    "obfuscated: {}; entropy {:.2}, {} distinct identifiers, average length {:.1}{}",
                    reasons.join(", "),
                    h,
                    f.distinct_idents,
                    f.avg_ident_len,
                    if minified { ", also minified" } else { "" }
                ),
            )
            .with_value(reasons.len() as f64),
        );
    } else if minified {
        out.push(
            Signal::new(
                ids::MINIFIED,
                rel,
                None,
                format!(
                    "minified (not obfuscated): entropy {:.2}, {} distinct identifiers, average length {:.1}",
                    h, f.distinct_idents, f.avg_ident_len
                ),
            )
            .with_value(round2(h)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_compile() {
        for (name, ok) in all_regexes() {
            assert!(ok, "{name} does not compile");
        }
    }

    fn run(src: &str) -> (Vec<Signal>, JsOutcome) {
        let mut out = Vec::new();
        let o = analyze("t.js", src, false, &mut out);
        (out, o)
    }

    fn has(sigs: &[Signal], id: &str) -> bool {
        sigs.iter().any(|s| s.signal == id)
    }

    #[test]
    fn decode_eval_direct_and_through_variable() {
        let (s, o) = run("const p = 'aGVsbG8=';\neval(Buffer.from(p, 'base64').toString());\n");
        assert_eq!(o, JsOutcome::Parsed);
        let d = s
            .iter()
            .find(|s| s.signal == ids::DECODE_EVAL)
            .expect("decode-eval");
        assert_eq!(d.line, Some(2));
        let (s, _) = run("var code = atob(x);\nfunction go() { new Function(code)(); }\n");
        assert!(has(&s, ids::DECODE_EVAL), "{s:?}");
        let (s, _) = run("const vm = require('vm');\nlet c; c = zlib.inflateSync(buf).toString();\nvm.runInThisContext(c);\n");
        assert!(has(&s, ids::DECODE_EVAL), "{s:?}");
    }

    #[test]
    fn literal_or_commented_eval_is_not_a_signal() {
        let (s, _) = run("// eval(atob(x)) in a comment\nvar g = Function('return this')();\nconst msg = \"eval(atob(x))\";\n");
        assert!(
            !has(&s, ids::DECODE_EVAL) && !has(&s, ids::DYNAMIC_CODE),
            "{s:?}"
        );
        let (s, _) = run("function run(src) { return eval(src); }\n");
        assert!(
            has(&s, ids::DYNAMIC_CODE) && !has(&s, ids::DECODE_EVAL),
            "{s:?}"
        );
    }

    #[test]
    fn queue_rotation_alone_is_not_obfuscation() {
        let (s, _) =
            run("const q = [a, b, c];\nfunction next() { q.push(q.shift()); return q[0]; }\n");
        assert!(
            !has(&s, ids::STRING_ARRAY_ROTATION) && !has(&s, ids::OBFUSCATED),
            "{s:?}"
        );
    }

    #[test]
    fn broken_file_falls_back_to_lexical() {
        let src = "var _0x1a2b = ['a'; var _0x3c4d, _0x5e6f, _0x7a8b, _0x9cad, _0xbeef1 = eval(atob(_0x1a2b)) }}}{{";
        let (s, o) = run(src);
        assert_eq!(o, JsOutcome::Fallback);
        assert!(has(&s, ids::PARSE_FALLBACK));
        assert!(has(&s, ids::DECODE_EVAL), "{s:?}");
        assert!(has(&s, ids::HEX_IDENTIFIERS), "{s:?}");
    }

    #[test]
    fn escaped_identifiers() {
        let (s, _) = run("var \\u0061bc = 1; \\u0061bc++; console.log(\\u0061bc);\n");
        assert!(has(&s, ids::ESCAPED_IDENTIFIERS), "{s:?}");
        let (s, _) = run("var s = '\\u0061bc'; var abc = 1; abc++; abc--;\n");
        assert!(!has(&s, ids::ESCAPED_IDENTIFIERS), "{s:?}");
    }
}

//! A small, lenient lexer for strace's argument syntax. strace prints C-like values:
//! quoted strings with C escapes (possibly cut short with `...`), `-yy` fd annotations
//! (`3</etc/passwd>`, `5<TCP:[1.2.3.4:5->6.7.8.9:443]>`), arrays, structs with
//! `name=value` fields, macro-like calls (`htons(443)`, `inet_addr("1.2.3.4")`) and
//! `/* comments */`. The lexer never fails: on input cut in the middle (a truncated
//! trace) it returns what it could read, so the recorder can still emit an event.

/// One parsed strace value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string, decoded to bytes; `truncated` when strace printed `"..."...`.
    Str {
        bytes: Vec<u8>,
        truncated: bool,
    },
    /// A file descriptor (or `AT_FDCWD`) with its `-yy` annotation.
    Fd {
        fd: String,
        annotation: String,
    },
    Array(Vec<Value>),
    Struct(Vec<Value>),
    /// `name=value` inside a struct or an argument list.
    Named(String, Box<Value>),
    /// `name(args)`, e.g. `htons(443)`.
    Call(String, Vec<Value>),
    /// Anything else: numbers, flags, `NULL`, `...`.
    Atom(String),
}

impl Value {
    /// The value as text: strings lossily decoded, atoms as written.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str { bytes, .. } => Some(String::from_utf8_lossy(bytes).into_owned()),
            Value::Atom(a) => Some(a.clone()),
            Value::Fd { fd, .. } => Some(fd.clone()),
            Value::Named(_, v) => v.text(),
            _ => None,
        }
    }

    /// The string bytes when this is a quoted string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str { bytes, .. } => Some(bytes),
            Value::Named(_, v) => v.bytes(),
            _ => None,
        }
    }

    /// The `-yy` annotation when this is an annotated fd.
    pub fn annotation(&self) -> Option<&str> {
        match self {
            Value::Fd { annotation, .. } => Some(annotation),
            Value::Named(_, v) => v.annotation(),
            _ => None,
        }
    }

    /// A field of a struct (or a named argument) by name, searching nested values
    /// depth-first (sockaddrs nest inside msghdr structs and arrays).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Named(n, v) if n == name => Some(v),
            Value::Named(_, v) => v.field(name),
            Value::Struct(items) | Value::Array(items) => items.iter().find_map(|i| i.field(name)),
            _ => None,
        }
    }

    /// The first `Call` with this name inside the value (e.g. `inet_pton`).
    pub fn call(&self, name: &str) -> Option<&[Value]> {
        match self {
            Value::Call(n, args) if n == name => Some(args),
            Value::Call(_, args) | Value::Struct(args) | Value::Array(args) => {
                args.iter().find_map(|a| a.call(name))
            }
            Value::Named(_, v) => v.call(name),
            _ => None,
        }
    }

    /// An integer value: decimal, hex or octal atoms, or `htons(N)`-style wrappers.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Atom(a) => parse_int(a),
            Value::Fd { fd, .. } => parse_int(fd),
            Value::Call(_, args) if args.len() == 1 => args[0].int(),
            Value::Named(_, v) => v.int(),
            _ => None,
        }
    }
}

/// Parses a C integer literal (`42`, `-1`, `0x1f`, `0755`).
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let v = if let Some(h) = body.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Decodes the C escapes strace uses (`\n \t \r \v \f \" \\ \xNN \NNN`).
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' || i + 1 >= s.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let (byte, used) = escape_at(s, i + 1);
        out.push(byte);
        i += 1 + used;
    }
    out
}

/// Decodes one escape whose first char (after the backslash) is at `i`; returns the
/// byte and how many chars it used.
fn escape_at(s: &[u8], i: usize) -> (u8, usize) {
    match s[i] {
        b'n' => (b'\n', 1),
        b't' => (b'\t', 1),
        b'r' => (b'\r', 1),
        b'v' => (0x0b, 1),
        b'f' => (0x0c, 1),
        b'a' => (0x07, 1),
        b'b' => (0x08, 1),
        b'x' => {
            let mut v: u32 = 0;
            let mut n = 0;
            while n < 2 && i + 1 + n < s.len() && s[i + 1 + n].is_ascii_hexdigit() {
                v = v * 16 + (s[i + 1 + n] as char).to_digit(16).unwrap_or(0);
                n += 1;
            }
            if n == 0 {
                (b'x', 1)
            } else {
                (v as u8, 1 + n)
            }
        }
        b'0'..=b'7' => {
            let mut v: u32 = 0;
            let mut n = 0;
            while n < 3 && i + n < s.len() && (b'0'..=b'7').contains(&s[i + n]) {
                v = v * 8 + u32::from(s[i + n] - b'0');
                n += 1;
            }
            (v as u8, n)
        }
        other => (other, 1),
    }
}

/// Cursor over one strace line (or part of one).
pub struct Lexer<'a> {
    s: &'a [u8],
    pub pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(s: &'a str) -> Self {
        Lexer {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// The text not consumed yet.
    pub fn rest(&self) -> &'a str {
        std::str::from_utf8(&self.s[self.pos.min(self.s.len())..]).unwrap_or("")
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        loop {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
            if self.s[self.pos.min(self.s.len())..].starts_with(b"/*") {
                match find(self.s, self.pos + 2, b"*/") {
                    Some(end) => self.pos = end + 2,
                    None => self.pos = self.s.len(),
                }
            } else {
                return;
            }
        }
    }

    /// Parses comma-separated values until `close` (consumed) or the end of input.
    /// Returns the values and whether the closing char was seen.
    pub fn list(&mut self, close: u8) -> (Vec<Value>, bool) {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return (items, false),
                Some(c) if c == close => {
                    self.pos += 1;
                    return (items, true);
                }
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                Some(b')' | b']' | b'}') => {
                    // A closer that is not ours: malformed; stop here without consuming.
                    return (items, false);
                }
                _ => {}
            }
            let before = self.pos;
            let v = self.value();
            if self.pos == before {
                // Make progress on junk.
                self.pos += 1;
            }
            items.push(v);
        }
    }

    /// Parses one value (with an optional `name=` prefix and `=> value` suffix).
    pub fn value(&mut self) -> Value {
        self.skip_ws();
        let v = match self.peek() {
            Some(b'"') => self.string(),
            Some(b'@') if self.s.get(self.pos + 1) == Some(&b'"') => {
                self.pos += 1;
                match self.string() {
                    Value::Str {
                        mut bytes,
                        truncated,
                    } => {
                        bytes.insert(0, b'@');
                        Value::Str { bytes, truncated }
                    }
                    other => other,
                }
            }
            Some(b'[') => {
                self.pos += 1;
                Value::Array(self.list(b']').0)
            }
            Some(b'{') => {
                self.pos += 1;
                Value::Struct(self.list(b'}').0)
            }
            _ => self.atom(),
        };
        self.skip_ws();
        // `{...} => {...}`: strace shows the value on entry and on exit; keep the exit.
        if self.s[self.pos.min(self.s.len())..].starts_with(b"=>") {
            self.pos += 2;
            return self.value();
        }
        v
    }

    fn string(&mut self) -> Value {
        self.pos += 1; // opening quote
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b'\\' {
                self.pos += 2;
                continue;
            }
            if c == b'"' {
                break;
            }
            self.pos += 1;
        }
        let end = self.pos.min(self.s.len());
        let bytes = unescape(&self.s[start..end]);
        let mut truncated = self.peek().is_none();
        if self.peek() == Some(b'"') {
            self.pos += 1;
        }
        if self.s[self.pos.min(self.s.len())..].starts_with(b"...") {
            self.pos += 3;
            truncated = true;
        }
        Value::Str { bytes, truncated }
    }

    fn atom(&mut self) -> Value {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'"' | b'=' | b' ' | b'\t'
            ) {
                break;
            }
            self.pos += 1;
        }
        let word = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let (args, _) = self.list(b')');
                Value::Call(word, args)
            }
            Some(b'<') if !word.is_empty() => {
                self.pos += 1;
                let annotation = self.annotation();
                Value::Fd {
                    fd: word,
                    annotation,
                }
            }
            Some(b'=') if !word.is_empty() && self.s.get(self.pos + 1) != Some(&b'>') => {
                self.pos += 1;
                let v = self.value();
                Value::Named(word, Box::new(v))
            }
            _ => Value::Atom(word),
        }
    }

    /// Reads a `-yy` annotation after the opening `<`, up to the matching `>`.
    /// Angle brackets nest (`/dev/null<char 1:3>`); inside `[...]` they do not count
    /// (`TCP:[1.2.3.4:5->6.7.8.9:443]`).
    fn annotation(&mut self) -> String {
        let start = self.pos;
        let mut depth = 1usize;
        let mut square = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => {
                    self.pos += 2;
                    continue;
                }
                b'[' => square += 1,
                b']' => square = square.saturating_sub(1),
                b'<' if square == 0 => depth += 1,
                b'>' if square == 0 => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        let end = self.pos.min(self.s.len());
        let text = unescape(&self.s[start..end]);
        if self.peek() == Some(b'>') {
            self.pos += 1;
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &str) -> Value {
        Value::Str {
            bytes: b.as_bytes().to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(
            unescape(br#"a\nb\t\"q\"\\\x41\101\0z"#),
            b"a\nb\t\"q\"\\AA\0z".to_vec()
        );
        assert_eq!(unescape(br"\0224\1\0"), vec![0o22, b'4', 1, 0]);
    }

    #[test]
    fn args_with_fds_structs_and_calls() {
        let mut l = Lexer::new(
            r#"3<TCP:[1.2.3.4:5->6.7.8.9:443]>, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("1.2.3.4")}, 16) = 0"#,
        );
        let (args, closed) = l.list(b')');
        assert!(closed);
        assert_eq!(args[0].annotation(), Some("TCP:[1.2.3.4:5->6.7.8.9:443]"));
        assert_eq!(args[1].field("sin_port").and_then(Value::int), Some(443));
        assert_eq!(
            args[1].call("inet_addr").map(|a| a[0].clone()),
            Some(s("1.2.3.4"))
        );
        assert_eq!(l.rest().trim(), "= 0");
    }

    #[test]
    fn nested_annotation_and_truncated_string() {
        let mut l = Lexer::new(
            r#"3</dev/null<char 1:3>>, "abc"..., [/* 2 vars */ "a", "b"], 0x7f /* 36 vars */)"#,
        );
        let (args, closed) = l.list(b')');
        assert!(closed);
        assert_eq!(args[0].annotation(), Some("/dev/null<char 1:3>"));
        assert_eq!(
            args[1],
            Value::Str {
                bytes: b"abc".to_vec(),
                truncated: true
            }
        );
        assert_eq!(args[2], Value::Array(vec![s("a"), s("b")]));
        assert_eq!(args[3], Value::Atom("0x7f".into()));
    }

    #[test]
    fn cut_input_does_not_panic() {
        for text in [
            r#""abc"#,
            r#"{sa_family=AF_INET, sin_port=htons("#,
            "3</tmp/x",
            "[\"a\", ",
            "\"\\",
            "\"\\x4",
        ] {
            let mut l = Lexer::new(text);
            let _ = l.list(b')');
            assert!(l.at_end(), "{text}");
        }
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("0755"), Some(0o755));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("O_RDONLY"), None);
    }
}

//! An order-preserving JSON document for editing a project's `package.json` the way the
//! package managers themselves write it (`JSON.stringify(pkg, null, indent)` plus the
//! file's own line ending): keys keep their order, the file keeps its indentation, so
//! `airlock approve` changes only the keys it owns. serde_json's `Map` sorts keys unless
//! the workspace-wide `preserve_order` feature is on, which would change every other
//! crate's output; this small model keeps the change local.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value under `key`, inserted (at the end) as `default` when absent; `None` when
    /// `self` is not an object.
    pub fn entry(&mut self, key: &str, default: Json) -> Option<&mut Json> {
        let Json::Object(m) = self else { return None };
        let i = match m.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                m.push((key.to_string(), default));
                m.len() - 1
            }
        };
        Some(&mut m[i].1)
    }

    /// Sets `key` (in place when present, else at the end).
    pub fn set(&mut self, key: &str, value: Json) {
        if let Some(slot) = self.entry(key, Json::Null) {
            *slot = value;
        }
    }

    /// Removes `key`; true when it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let Json::Object(m) = self else { return false };
        let before = m.len();
        m.retain(|(k, _)| k != key);
        m.len() != before
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(n)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("a number JSON cannot hold"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::String(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Json, E> {
                Ok(Json::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element()? {
                    out.push(v);
                }
                Ok(Json::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut out: Vec<(String, Json)> = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Json>()? {
                    // JSON.parse keeps the last duplicate, at the first one's place.
                    match out.iter_mut().find(|(key, _)| *key == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Ok(Json::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A parsed `package.json` with what is needed to write it back the same way.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Json,
    /// One level of indentation (npm keeps the file's own: two spaces, four, a tab).
    pub indent: String,
    /// `\n` or `\r\n`.
    pub newline: &'static str,
    /// Whether the file ended with a line ending.
    pub final_newline: bool,
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, serde_json::Error> {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        let root: Json = serde_json::from_str(body)?;
        let newline = if body.contains("\r\n") { "\r\n" } else { "\n" };
        let indent = body
            .lines()
            .skip(1)
            .find_map(|l| {
                let ws: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
                (!ws.is_empty() && ws.len() < l.len()).then_some(ws)
            })
            .unwrap_or_else(|| "  ".to_string());
        Ok(Document {
            root,
            indent,
            newline,
            final_newline: body.ends_with('\n'),
        })
    }

    /// The document as `JSON.stringify(root, null, indent)` writes it, with the file's
    /// line ending.
    pub fn render(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, &self.root, &self.indent, 0);
        if self.final_newline {
            out.push('\n');
        }
        if self.newline == "\r\n" {
            out = out.replace('\n', "\r\n");
        }
        out
    }
}

fn write_string(out: &mut String, s: &str) {
    // serde_json escapes as JSON.stringify does: `"`, `\`, control characters.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn write_value(out: &mut String, v: &Json, indent: &str, depth: usize) {
    let pad = |out: &mut String, d: usize| {
        out.push('\n');
        for _ in 0..d {
            out.push_str(indent);
        }
    };
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => write_string(out, s),
        Json::Array(a) if a.is_empty() => out.push_str("[]"),
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                write_value(out, x, indent, depth + 1);
            }
            pad(out, depth);
            out.push(']');
        }
        Json::Object(m) if m.is_empty() => out.push_str("{}"),
        Json::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                write_string(out, k);
                out.push_str(": ");
                write_value(out, x, indent, depth + 1);
            }
            pad(out, depth);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_written_files_round_trip_byte_for_byte() {
        for text in [
            "{\n  \"name\": \"a\",\n  \"version\": \"1.0.0\",\n  \"z\": {},\n  \"b\": [],\n  \"dependencies\": {\n    \"zeta\": \"^1\",\n    \"alpha\": \"2\"\n  },\n  \"n\": 1.5,\n  \"s\": \"\\u0001é\\\"\"\n}\n",
            "{\r\n\t\"name\": \"a\",\r\n\t\"x\": [\r\n\t\t1,\r\n\t\tnull\r\n\t]\r\n}",
            "{\n    \"b\": true,\n    \"a\": false\n}\n",
        ] {
            let d = Document::parse(text).unwrap();
            assert_eq!(d.render(), text);
        }
    }
}

//! Unicode tricks in source: bidirectional controls, invisible characters and words
//! that mix scripts (homoglyphs).

use crate::ids;
use crate::text::Lines;
use crate::Signal;

pub(super) fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

pub(super) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{3164}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{FFA0}'
            | '\u{FE00}'..='\u{FE0E}'
            | '\u{E0100}'..='\u{E01EF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

pub(super) fn script_of(c: char) -> Option<&'static str> {
    match c {
        'a'..='z' | 'A'..='Z' => Some("Latin"),
        '\u{0370}'..='\u{03FF}' => Some("Greek"),
        '\u{0400}'..='\u{052F}' => Some("Cyrillic"),
        '\u{0530}'..='\u{058F}' => Some("Armenian"),
        _ => None,
    }
}

/// Whether `word` mixes Latin letters with Greek, Cyrillic or Armenian ones.
pub fn mixes_scripts(word: &str) -> bool {
    let mut latin = false;
    let mut other = false;
    for c in word.chars() {
        match script_of(c) {
            Some("Latin") => latin = true,
            Some(_) => other = true,
            None => {}
        }
    }
    latin && other
}

pub(super) fn unicode_tricks(rel: &str, src: &str, lines: &Lines, out: &mut Vec<Signal>) {
    if src.is_ascii() {
        return;
    }
    let mut bidi = 0usize;
    let mut bidi_first = None;
    let mut invis = 0usize;
    let mut invis_first = None;
    // Trojan source hides logic in ordinary code lines; bidi controls inside data tables
    // on one very long line (webpack's HTML syntax tables) are data.
    let mut line_start = 0usize;
    let mut line_long = false;
    for (i, c) in src.char_indices() {
        if i == line_start {
            line_long = src[i..].split('\n').next().is_some_and(|l| l.len() > 1000);
        }
        if c == '\n' {
            line_start = i + 1;
        }
        if is_bidi(c) {
            if !line_long {
                bidi += 1;
                bidi_first.get_or_insert(i);
            }
        } else if is_invisible(c) || (c == '\u{FEFF}' && i > 0) {
            invis += 1;
            invis_first.get_or_insert(i);
        }
    }
    if let Some(off) = bidi_first {
        out.push(
            Signal::new(
                ids::BIDI_CONTROL,
                rel,
                Some(lines.line_of(off)),
                format!("{bidi} bidirectional control characters"),
            )
            .with_value(bidi as f64),
        );
    }
    if let Some(off) = invis_first {
        out.push(
            Signal::new(
                ids::INVISIBLE_CHARACTER,
                rel,
                Some(lines.line_of(off)),
                format!("{invis} invisible or variation-selector characters"),
            )
            .with_value(invis as f64),
        );
    }
    let mut mixed = 0usize;
    let mut first = None;
    let mut start = None;
    let bytes_end = src.len();
    for (i, c) in src.char_indices().chain(std::iter::once((bytes_end, ' '))) {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            let word = &src[s..i];
            if !word.is_ascii() && mixes_scripts(word) {
                mixed += 1;
                first.get_or_insert((s, word.to_string()));
            }
        }
    }
    if let Some((off, word)) = first {
        out.push(
            Signal::new(
                ids::HOMOGLYPH_IDENTIFIER,
                rel,
                Some(lines.line_of(off)),
                format!("{mixed} words mix Latin with Greek/Cyrillic letters, first {word:?}"),
            )
            .with_value(mixed as f64),
        );
    }
}

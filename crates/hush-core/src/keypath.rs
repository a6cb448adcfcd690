//! Dotted key paths (`db.host`, `"with.dot".x`) as TOML writes them.

use thiserror::Error;

/// A key path that is not a valid TOML dotted key.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "invalid key path {path:?}: {message}; write it as a TOML dotted key, e.g. db.host or \"with.dot\".host"
)]
pub struct KeyPathError {
    pub path: String,
    pub message: String,
}

fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// One key as TOML would write it: bare if it can be, else a basic string.
pub fn format_key(key: &str) -> String {
    if is_bare(key) {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len() + 2);
    write_basic_string(&mut out, key);
    out
}

/// `s` as a TOML basic string: `"` and `\` escaped, control characters as escapes.
pub(crate) fn write_basic_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Segments joined with dots, each quoted where needed.
pub fn format_key_path<S: AsRef<str>>(segments: &[S]) -> String {
    segments
        .iter()
        .map(|s| format_key(s.as_ref()))
        .collect::<Vec<_>>()
        .join(".")
}

/// Split a TOML dotted key (`db.host`, `"with.dot".host`, `'a b'.c`) into
/// its segments, with TOML's rules: bare segments are `A-Za-z0-9_-`, quoted
/// segments (basic `"..."` with escapes, or literal `'...'`) may hold anything,
/// dots included; spaces around the dots are ignored.
pub fn parse_key_path(path: &str) -> Result<Vec<String>, KeyPathError> {
    let err = |message: &str| KeyPathError {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let mut chars = path.chars().peekable();
    let mut segments = Vec::new();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut seg = String::new();
        match chars.peek() {
            None => return Err(err("a key is missing")),
            Some(&quote @ ('"' | '\'')) => {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(err("a quoted key is not closed")),
                        Some(c) if c == quote => break,
                        // Escapes only in basic ("...") keys; a literal key takes `\` as is.
                        Some('\\') if quote == '"' => {
                            let c = match chars.next() {
                                Some('"') => '"',
                                Some('\\') => '\\',
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('r') => '\r',
                                Some('b') => '\u{8}',
                                Some('f') => '\u{c}',
                                Some(u @ ('u' | 'U')) => {
                                    let n = if u == 'u' { 4 } else { 8 };
                                    let hex: String = chars.by_ref().take(n).collect();
                                    u32::from_str_radix(&hex, 16)
                                        .ok()
                                        .filter(|_| hex.len() == n)
                                        .and_then(char::from_u32)
                                        .ok_or_else(|| err("invalid unicode escape"))?
                                }
                                _ => return Err(err("invalid escape sequence")),
                            };
                            seg.push(c);
                        }
                        Some(c) => seg.push(c),
                    }
                }
            }
            Some(_) => {
                while let Some(c) =
                    chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                {
                    seg.push(c);
                }
                if seg.is_empty() {
                    return Err(err(
                        "a bare key may hold only A-Z, a-z, 0-9, '_' and '-'; quote other keys",
                    ));
                }
            }
        }
        segments.push(seg);
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.next() {
            None => return Ok(segments),
            Some('.') => {}
            Some(_) => {
                return Err(err(
                    "a bare key may hold only A-Z, a-z, 0-9, '_' and '-'; quote other keys",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        for segs in [
            vec!["db", "host"],
            vec!["with.dot", "x"],
            vec!["ключ"],
            vec!["a b", "c\"d", "e\\f"],
            vec![""],
        ] {
            let path = format_key_path(&segs);
            assert_eq!(parse_key_path(&path).unwrap(), segs, "{path}");
        }
        assert_eq!(format_key_path(&["db", "host"]), "db.host");
        assert_eq!(format_key_path(&["with.dot"]), "\"with.dot\"");
        assert_eq!(parse_key_path("'a.b' . c").unwrap(), vec!["a.b", "c"]);
    }

    #[test]
    fn rejects_non_keys() {
        assert!(parse_key_path("a = 1").is_err());
        assert!(parse_key_path("a..b").is_err());
        assert!(parse_key_path("").is_err());
        assert!(parse_key_path("a\nb = 1\nc").is_err());
    }
}

//! Small helpers shared by the client commands: tables, times, prompts, and [`visible`],
//! through which everything someone else wrote passes on its way to the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use hush_client::api::ClientError;
use serde_json::Value;

/// Someone else's text (a name, a commit message, a key, a server's message) as it may be
/// printed: control characters and the invisible ones that reorder or hide text are written
/// as escapes (`\e`, `\x00`, `\n`, `\u{202e}`), so nothing printed can recolour, retitle
/// or clear the terminal, move the cursor, or disguise what it says.
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, Shape::Line)
}

/// [`visible`] for text of several lines (messages, documents): newlines and tabs stay.
pub fn visible_text(text: &str) -> Cow<'_, str> {
    escape(text, Shape::Text)
}

/// [`visible`] for JSON text: the same characters, as JSON's `\uXXXX` escapes, which stand
/// for the same string; line breaks between values stay.
pub fn visible_json(text: &str) -> Cow<'_, str> {
    escape(text, Shape::Json)
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Line,
    Text,
    Json,
}

fn escape(text: &str, shape: Shape) -> Cow<'_, str> {
    let hidden = |c: char| {
        let layout = match shape {
            Shape::Line => false,
            Shape::Text => c == '\n' || c == '\t',
            Shape::Json => c == '\n' || c == '\t' || c == '\r',
        };
        (c.is_control() && !layout)
            // Bidirectional overrides and isolates, zero-width characters, line separators.
            || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            _ if !hidden(c) => out.push(c),
            _ if shape == Shape::Json => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\0'..='\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// An error as the CLI prints it: each cause in turn, once (a cause whose text the one
/// before already holds is not repeated); a server's refusal as its message (its code and
/// HTTP status are for programs); file errors without their OS code ("(os error 2)"), which
/// the words before it already say; everything through [`visible_text`].
pub fn error_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<ClientError>() {
            Some(ClientError::Api { code, .. }) if code == "unauthorized" => {
                "the server does not know this token (a token works only on the server that \
                 created it)"
                    .to_string()
            }
            Some(ClientError::Api { message, .. }) => message.clone(),
            _ => cause.to_string(),
        };
        if parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    visible_text(&without_os_codes(&parts.join(": "))).into_owned()
}

/// Drops every " (os error N)" from a message.
fn without_os_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" (os error ") {
        let tail = &rest[at + " (os error ".len()..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..at]);
        if digits > 0 && tail[digits..].starts_with(')') {
            rest = &tail[digits + 1..];
        } else {
            out.push_str(" (os error ");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Prints rows under a header, each column as wide as its widest cell. Every cell goes
/// through [`visible`].
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| visible(c).into_owned()).collect())
        .collect();
    let rows = &rows[..];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A list command's answer: `{"KEY": [...]}` with `--json`; else `empty` when there is
/// nothing (when given); else a table of `header` with a row of each item.
pub fn print_list(
    json: bool,
    key: &str,
    items: Vec<Value>,
    empty: Option<&str>,
    header: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        let body = [(key.to_string(), Value::Array(items))]
            .into_iter()
            .collect();
        return print_json(&Value::Object(body));
    }
    if let Some(empty) = empty
        && items.is_empty()
    {
        println!("{empty}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    print_table(header, &rows);
    Ok(())
}

/// Prints a JSON value for `--json`.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", visible_json(&serde_json::to_string_pretty(value)?));
    Ok(())
}

/// A JSON field as table text: strings bare, null as "-".
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON array of strings as table text, joined with ", " (empty when absent).
pub fn list_cell(value: &Value) -> String {
    array_items(value)
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The items of a JSON array field; none when it is absent or not an array.
pub fn array_items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A millisecond timestamp field as `YYYY-MM-DD HH:MM UTC`, or "-".
pub fn time_cell(value: &Value) -> String {
    value.as_i64().map_or_else(|| "-".into(), format_millis)
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn format_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse: (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `--since`: a duration back from `now_ms` (`30m`, `24h`, `7d`, `2w`) or a UTC date
/// (`2024-05-01`, `2024-05-01T12:00`, `2024-05-01T12:00:00Z`); milliseconds since the epoch.
pub fn parse_since(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    let help = "use a duration such as 30m, 24h, 7d or 2w, or a UTC date such as 2024-05-01 or 2024-05-01T12:00";
    if let Some(unit) = text.chars().last().filter(|c| "smhdw".contains(*c)) {
        let number = &text[..text.len() - 1];
        if let Ok(n) = number.parse::<i64>() {
            let ms = match unit {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => 7 * 86_400_000,
            };
            return Ok(now_ms - n * ms);
        }
    }
    let text = text.trim_end_matches('Z');
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts[..] else {
        bail!("--since {text:?}: {help}");
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
        bail!("--since {text:?}: {help}");
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("--since {text:?}: {help}");
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(time) = time {
        let fields: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&fields.len()) {
            bail!("--since {text:?}: {help}");
        }
        let mut scale = 3600;
        for field in fields {
            let n: i64 = field
                .parse()
                .ok()
                .with_context(|| format!("--since {text:?}: {help}"))?;
            secs += n * scale;
            scale /= 60;
        }
    }
    Ok(secs * 1000)
}

pub use hush_store::now_millis;

/// Asks a question on stderr and reads one line from stdin; `None` at end of input.
pub fn ask(question: &str) -> anyhow::Result<Option<String>> {
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read from standard input")?;
    if n == 0 {
        eprintln!();
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// Whether a person can answer questions on stdin.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Percent-encodes a query parameter value.
pub fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_format_as_utc_dates() {
        assert_eq!(format_millis(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_millis(1_714_564_800_000), "2024-05-01 12:00 UTC");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn since_accepts_durations_and_dates() {
        let now = 1_714_564_800_000;
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(parse_since("30m", now).unwrap(), now - 30 * 60_000);
        assert_eq!(parse_since("2024-05-01T12:00", now).unwrap(), now);
        assert_eq!(parse_since("2024-05-01T12:00:00Z", now).unwrap(), now);
        assert_eq!(
            parse_since("2024-05-01", now).unwrap(),
            now - 12 * 3_600_000
        );
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("2024-13-01", now).is_err());
    }

    #[test]
    fn others_text_cannot_drive_the_terminal() {
        // Colour, title + clear screen, NUL, a C1 CSI, a right-to-left override.
        let hostile = "a\u{1b}[31mb\u{1b}]0;pwned\u{7}\u{1b}[2J\0c\u{9b}2Jd\u{202e}e\nf\tg";
        let line = visible(hostile);
        assert_eq!(
            line,
            "a\\e[31mb\\e]0;pwned\\x07\\e[2J\\x00c\\u{9b}2Jd\\u{202e}e\\nf\\tg"
        );
        assert!(!line.chars().any(|c| c.is_control()));
        let text = visible_text(hostile);
        assert!(
            text.contains("e\nf\tg") && !text.contains('\u{1b}'),
            "{text}"
        );
        // JSON keeps its meaning: the escaped text parses to the same string.
        let json = serde_json::to_string(&serde_json::json!({ "name": hostile })).unwrap();
        let safe = visible_json(&json);
        assert!(
            !safe.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{safe}"
        );
        let back: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["name"], hostile);
        assert!(matches!(visible("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn errors_name_each_cause_once_without_os_codes() {
        let io = std::io::Error::from_raw_os_error(2);
        let err = anyhow::Error::new(io).context("cannot read /nope.toml");
        assert_eq!(
            error_text(&err),
            "cannot read /nope.toml: No such file or directory"
        );
        let inner = anyhow::anyhow!("No such file or directory (os error 2)");
        let err = inner.context("cannot start \"x\": No such file or directory (os error 2)");
        assert_eq!(
            error_text(&err),
            "cannot start \"x\": No such file or directory"
        );
        assert_eq!(without_os_codes("a (os error x) b"), "a (os error x) b");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(query_value("secrets."), "secrets.");
        assert_eq!(query_value("a b&c=d"), "a%20b%26c%3Dd");
    }
}

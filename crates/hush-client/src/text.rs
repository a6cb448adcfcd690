//! Files read as UTF-8 text, and where one that is not goes wrong.

use thiserror::Error;

/// Bytes that are not UTF-8: `line` and `column` (1-based, column in characters, as TOML
/// parse errors count them) of the first byte that is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("the file is not valid UTF-8; save it as UTF-8 (at line {line}, column {column})")]
pub struct NotUtf8 {
    pub line: usize,
    pub column: usize,
}

/// `bytes` as text, or where they stop being UTF-8.
pub fn from_utf8(bytes: &[u8]) -> Result<&str, NotUtf8> {
    std::str::from_utf8(bytes).map_err(|error| {
        let before = std::str::from_utf8(&bytes[..error.valid_up_to()])
            .expect("the bytes before `valid_up_to` are UTF-8");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        NotUtf8 {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_byte_that_is_not_utf8_is_placed_by_line_and_character() {
        assert_eq!(from_utf8(b"a = 1\n"), Ok("a = 1\n"));
        // Line 3, after `k = "é` (six characters, seven bytes): a Latin-1 `ü`.
        let bytes = b"a = 1\nb = 2\nk = \"\xc3\xa9\xfc\"\n";
        assert_eq!(from_utf8(bytes), Err(NotUtf8 { line: 3, column: 7 }));
        // A character cut short at the end is placed where it starts.
        assert_eq!(from_utf8(b"\xc3"), Err(NotUtf8 { line: 1, column: 1 }));
        assert_eq!(
            from_utf8(b"ab\n\n\xff"),
            Err(NotUtf8 { line: 3, column: 1 })
        );
    }
}

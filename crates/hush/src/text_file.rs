//! Text files a person wrote (secrets, settings): one that is not UTF-8 is refused saying at
//! which line and column, as a TOML error would.

use std::io;
use std::path::Path;

/// [`std::fs::read_to_string`], but a file that is not UTF-8 is an `InvalidData` error that
/// places the first byte that is not (std's says only "stream did not contain valid UTF-8").
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(std::fs::read(path)?).map_err(|error| {
        let place = hush_client::text::from_utf8(error.as_bytes())
            .expect_err("String::from_utf8 refused these bytes");
        io::Error::new(io::ErrorKind::InvalidData, place)
    })
}

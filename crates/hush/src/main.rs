//! The hush command: parses the command line and hands off to the library crates.

fn main() {
    println!("hush {}", env!("CARGO_PKG_VERSION"));
}

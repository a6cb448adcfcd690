//! python3 as the reference implementation, called once per test with a whole batch.

use std::io::Write;
use std::process::{Command, Stdio};

/// What `python3 -c script` printed when fed `input`; fails the test if python3 is missing or
/// fails. The input is written from another thread: python answers while it still reads, and a
/// full stdout pipe would otherwise deadlock both.
pub fn run_python(script: &str, input: Vec<u8>) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (3.11 or newer, for tomllib) is needed: it is the reference");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "python3 failed");
    String::from_utf8(out.stdout).unwrap()
}

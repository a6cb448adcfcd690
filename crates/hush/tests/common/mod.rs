//! Shared by the binary's integration tests: the real `hush serve` on a free port, and the
//! owner created with `hush admin create-owner`.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const HUSH: &str = env!("CARGO_BIN_EXE_hush");

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// `hush serve ARGS` with `envs`; returns once it says where it serves. What it logs after
    /// that goes to `log` when given (else nowhere), so it never blocks on a full pipe.
    pub fn start<I, S>(args: I, envs: &[(&str, &str)], log: Option<&Path>) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(HUSH)
            .arg("serve")
            .args(args)
            .env("HUSH_LOG", "warn")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hush serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let url = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("hush serve exited before serving:\n{seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line.split("is serving on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let mut sink: Box<dyn Write + Send> = match log {
            Some(path) => Box::new(std::fs::File::create(path).unwrap()),
            None => Box::new(std::io::sink()),
        };
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut sink));
        Server { child, url }
    }

    /// The usual test server: SQLite in `data`, on `port` (0 for any), no metrics listener.
    pub fn on_data_dir(data: &Path, port: u16) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let args: [&OsStr; 6] = [
            "--listen".as_ref(),
            listen.as_ref(),
            "--metrics-listen".as_ref(),
            "off".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ];
        Server::start(args, &[], None)
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGKILL by PID: no goodbye to the watch streams.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `hush admin create-owner --name olivia DB_ARGS` with `password`, plus `envs`.
pub fn create_owner<I, S>(db_args: I, envs: &[(&str, &str)], password: &str)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(HUSH)
        .args(["admin", "create-owner", "--name", "olivia"])
        .args(db_args)
        .envs(envs.iter().copied())
        .env("HUSH_OWNER_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create-owner failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! The real binary's logs, at the most verbose level and in both formats, never hold a secret
//! value, a token or a password, whatever the requests did.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use hush_client::api::Client;

const PASSWORD: &str = "a long enough password 42";
const VALUES: [&str; 3] = [
    "v4lue-in-a-bad-edit",
    "pw-7f3e9a-secret",
    "sk_live_logcheck_99",
];

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path, format: &str) -> (Server, String, std::path::PathBuf) {
    let log = dir.join(format!("server-{format}.log"));
    let owner = Command::new(env!("CARGO_BIN_EXE_hush"))
        .args(["admin", "create-owner", "--name", "olivia", "--data-dir"])
        .arg(dir)
        .env("HUSH_OWNER_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        owner.status.success()
            || String::from_utf8_lossy(&owner.stderr).contains("already has members")
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_hush"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--log-format",
            format,
            "--data-dir",
        ])
        .arg(dir)
        .env("HUSH_LOG", "trace")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("is serving on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep collecting everything the server logs into a file.
    let log_path = log.clone();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut file = std::fs::File::create(log_path).unwrap();
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
        }
    });
    (Server(child), url, log)
}

#[tokio::test]
async fn logs_never_hold_values_tokens_or_passwords() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["text", "json"] {
        let (server, url, log) = start(dir.path(), format);
        let anon = Client::new(&url, None).unwrap();
        let _ = anon.login("olivia", "wrong password!!", "t").await;
        let pat = anon.login("olivia", PASSWORD, "t").await.unwrap().token;
        let owner = anon.with_token(pat.clone());
        let name = format!("logs-{format}");
        let doc = format!(
            "api_key = \"{}\"\n[db]\npassword = \"{}\"\n",
            VALUES[2], VALUES[1]
        );
        owner.create_app(&name, Some(&doc), None).await.unwrap();
        let token = owner
            .create_app_token(&name, "reader", None)
            .await
            .unwrap()
            .token;
        let app = anon.with_token(token.clone());
        app.secrets(&name).await.unwrap();
        let _ = owner
            .save_secrets(&name, &format!("bad = \"{}\n", VALUES[0]), 1, None)
            .await;
        let _ = owner
            .save_secrets(&name, &format!("\"a=b\" = \"{}\"\n", VALUES[0]), 1, None)
            .await;
        let _ = owner.save_secrets(&name, &doc, 0, None).await; // a conflict
        let _ = anon.with_token(format!("{token}x")).secrets(&name).await;
        owner.rollback(&name, 1, 1).await.unwrap();
        drop(server);

        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("/api/v1/apps"),
            "the {format} log records requests: {text}"
        );
        for secret in VALUES
            .iter()
            .chain([&PASSWORD, &pat.as_str(), &token.as_str()])
        {
            assert!(!text.contains(secret), "the {format} log holds {secret:?}");
        }
    }
}

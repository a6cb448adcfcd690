//! `hush run --app web` with a workload token file and no stored token, end to end: the built
//! binary against a real `hush serve`, with an issuer on loopback whose keys the app trusts.
//! The run trades the file's JWT for an app token, renews it before it expires, and follows
//! the app with the renewed one; a forged token is refused with its reason.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;

use common::{HUSH, file_lines, served_workspace, until_within};
use hush_testkit::issuer::{TestIssuer, forged};

const PASSWORD: &str = "correct-horse-battery";

#[tokio::test(flavor = "multi_thread")]
async fn hush_run_trades_a_workload_token_renews_it_and_refuses_a_forged_one() {
    let (dir, server) = served_workspace(&["data", "home", "cache", "work"], PASSWORD);
    let (owner, owner_token) = common::sign_in_owner(&server.url, PASSWORD).await;
    owner
        .create_app("web", Some("A = \"one\"\n"), None)
        .await
        .unwrap();
    let issuer = TestIssuer::start().await;
    // The owner trusts the issuer for web with the CLI.
    let cli = |args: &[&str]| {
        Command::new(HUSH)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path().join("home"))
            .env("HUSH_SERVER", &server.url)
            .env("HUSH_TOKEN", &owner_token)
            .output()
            .unwrap()
    };
    let trust_issuer = |more: &[&str]| {
        let head = ["apps", "trust", "add", "web", "--issuer", &issuer.url];
        cli(&[&head[..], more].concat())
    };
    let jwks = issuer.jwks_url();
    let added = trust_issuer(&[
        "--jwks-url",
        &jwks,
        "--audience",
        "hush-ci",
        "--condition",
        "repository=acme/web",
        "--token-minutes",
        "1",
    ]);
    common::assert_success(&added);
    let refused = trust_issuer(&["--audience", "hush-ci", "--condition", "repository"]);
    assert!(common::assert_failure(&refused).contains("CLAIM=GLOB"));
    let listed = String::from_utf8(cli(&["apps", "trust", "list", "web"]).stdout).unwrap();
    assert!(
        listed.contains(&issuer.url) && listed.contains("repository=acme/web"),
        "{listed}"
    );
    assert_eq!(owner.workload_trusts("web").await.unwrap().len(), 1);

    let token_file = dir.path().join("oidc-token");
    // What the CI platform's token says (a new jti each time).
    let ci_claims = || issuer.claims("hush-ci", "acme/web", "refs/heads/main");
    let hush_run = |file: &Path| {
        let mut cmd = Command::new(HUSH);
        cmd.current_dir(dir.path().join("work"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path().join("home"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .env("HUSH_SERVER", &server.url)
            .env("HUSH_WORKLOAD_TOKEN_FILE", file)
            .env("HUSH_LOG", "info")
            .args(["run", "--app", "web", "--"])
            .stdin(Stdio::null());
        cmd
    };

    // A forged token: refused, with the reason, and the command never starts.
    let forged_file = dir.path().join("forged-token");
    fs::write(&forged_file, forged("k1", &ci_claims())).unwrap();
    let out = hush_run(&forged_file)
        .args(["sh", "-c", "echo started > forged-ran"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused the workload token") && err.contains("signature is not"),
        "{err}"
    );
    assert!(!dir.path().join("work/forged-ran").exists());

    // A real one: the app starts with the secrets.
    fs::write(&token_file, issuer.sign("k1", &ci_claims())).unwrap();
    let stderr_path = dir.path().join("run.stderr");
    let mut child = hush_run(&token_file)
        .args([
            "sh",
            "-c",
            r#"echo "$A|${HUSH_TOKEN-unset}" >> out.txt; exec sleep 1000"#,
        ])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let out = dir.path().join("work/out.txt");
    let first = until_within("the app to start", Duration::from_secs(30), async || {
        file_lines(&out).first().cloned()
    })
    .await;
    assert_eq!(first, "one|unset");
    let tokens = owner.tokens(Some("web")).await.unwrap();
    assert_eq!(tokens.len(), 1);
    let first_token = tokens[0]["id"].as_i64().unwrap();

    // The platform renews the file (a new jti); hush trades it again before the minute is up.
    fs::write(&token_file, issuer.sign("k1", &ci_claims())).unwrap();
    until_within(
        "a second exchange before the first app token expires",
        Duration::from_secs(55),
        async || {
            let events = owner.audit("action=workload.exchange").await.ok()?;
            (events.len() >= 2).then_some(())
        },
    )
    .await;
    // The first app token revoked: its watch stream ends, and the run goes on with the
    // renewed token — the next save still reaches the app.
    owner.revoke_token(first_token).await.unwrap();
    let latest = owner.secrets("web").await.unwrap().version;
    owner
        .save_secrets("web", "A = \"two\"\n", latest, None)
        .await
        .unwrap();
    let second = until_within(
        "the new secrets to reach the app",
        Duration::from_secs(30),
        async || file_lines(&out).get(1).cloned(),
    )
    .await;
    assert_eq!(second, "two|unset");

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let log = fs::read_to_string(&stderr_path).unwrap();
    assert!(log.contains("renewed the app token"), "{log}");
    let jwt = fs::read_to_string(&token_file).unwrap();
    assert!(
        !log.contains(jwt.trim()),
        "the log holds the workload token"
    );
}

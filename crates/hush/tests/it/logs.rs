//! The real binary's logs, at the most verbose level and in both formats, never hold a secret
//! value, a token or a password, whatever the requests did.

use crate::common;

use common::Server;
use hush_client::api::Client;

const PASSWORD: &str = "a long enough password 42";
/// What a query string can carry: a sign-in return's one-time code and state.
const IN_QUERY: [&str; 2] = ["one-time-code-5d1c", "sign-in-state-77ab"];
const VALUES: [&str; 3] = [
    "v4lue-in-a-bad-edit",
    "pw-7f3e9a-secret",
    "sk_live_logcheck_99",
];

fn start(dir: &std::path::Path, format: &str) -> (Server, String, std::path::PathBuf) {
    let log = dir.join(format!("server-{format}.log"));
    if !dir.join("hush.db").exists() {
        common::create_owner(
            [std::ffi::OsStr::new("--data-dir"), dir.as_os_str()],
            &[],
            PASSWORD,
        );
    }
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--log-format",
        format,
        "--data-dir",
    ];
    let dir_arg = dir.to_str().unwrap();
    let server = Server::start(
        args.iter().copied().chain([dir_arg]),
        &[("HUSH_LOG", "trace")],
        Some(&log),
    );
    let url = server.url.clone();
    (server, url, log)
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
        let callback = format!(
            "{url}/api/v1/auth/sso/callback?code={}&state={}",
            IN_QUERY[0], IN_QUERY[1]
        );
        reqwest::get(callback).await.unwrap();
        drop(server);

        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("/api/v1/apps"),
            "the {format} log records requests: {text}"
        );
        assert!(
            text.contains("/api/v1/auth/sso/callback"),
            "the {format} log records the sign-in return: {text}"
        );
        for secret in
            VALUES
                .iter()
                .chain(&IN_QUERY)
                .chain([&PASSWORD, &pat.as_str(), &token.as_str()])
        {
            assert!(!text.contains(secret), "the {format} log holds {secret:?}");
        }
    }
}

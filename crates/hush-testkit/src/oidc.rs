//! A real OpenID provider for tests (`oidc-provider` from npm, e2e/oidc/provider.js) and a
//! cookie-keeping client that follows the sign-in's redirects by hand. Shared by hush-server's
//! single sign-on tests and hush's `hush login --sso` test.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};

pub const CLIENT_ID: &str = "hush";
pub const CLIENT_SECRET: &str = "hush-test-secret";

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e/oidc")
}

/// The provider's node_modules, installed once (`npm ci`), or why the tests cannot run.
pub fn provider_ready(test: &str) -> bool {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let ready = READY.get_or_init(|| {
        let node = std::process::Command::new("node").arg("--version").output();
        if !node.is_ok_and(|o| o.status.success()) {
            return Err("node is not installed".into());
        }
        if oidc_dir().join("node_modules/oidc-provider").exists() {
            return Ok(());
        }
        let npm = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(oidc_dir())
            .status();
        match npm {
            Ok(s) if s.success() => Ok(()),
            _ => Err("npm ci in e2e/oidc failed".into()),
        }
    });
    match ready {
        Ok(()) => true,
        Err(why) => {
            eprintln!("SKIPPED (OpenID provider): {why}; cannot run {test}");
            false
        }
    }
}

pub struct Provider {
    child: tokio::process::Child,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start_provider(port: u16, redirect: &str, tamper: &str) -> Provider {
    let mut child = tokio::process::Command::new("node")
        .arg("provider.js")
        .env("OIDC_TAMPER", tamper)
        .current_dir(oidc_dir())
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_REDIRECT_URIS", redirect)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("the provider starts")
        .unwrap()
        .unwrap();
    assert_eq!(line, format!("listening on {port}"));
    // Keep reading what it prints, so that it never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Provider { child }
}

/// A browser without JavaScript: follows redirects by hand, keeping cookies per host.
pub struct Browser {
    pub http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Browser {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    pub fn host(url: &reqwest::Url) -> String {
        format!(
            "{}:{}",
            url.host_str().unwrap(),
            url.port_or_known_default().unwrap()
        )
    }

    pub fn cookie(&self, host: &str, name: &str) -> Option<String> {
        self.jar.get(host).and_then(|c| c.get(name)).cloned()
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let request = request.build().unwrap();
        let host = Browser::host(request.url());
        let mut request = request;
        if let Some(cookies) = self.jar.get(&host) {
            let header = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            if !header.is_empty() {
                request
                    .headers_mut()
                    .insert(reqwest::header::COOKIE, header.parse().unwrap());
            }
        }
        let response = self.http.execute(request).await.unwrap();
        let jar = self.jar.entry(host).or_default();
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let attrs = attrs.to_ascii_lowercase();
            if value.is_empty() || attrs.contains("max-age=0") || attrs.contains("1970") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.to_string());
            }
        }
        response
    }

    /// Follows redirects from `url` until an answer that is not one, or until `stop` says so
    /// about a redirect's target (returned unfollowed).
    pub async fn follow(
        &mut self,
        mut response: reqwest::Response,
        stop: impl Fn(&str) -> bool,
    ) -> (reqwest::Response, Option<String>) {
        for _ in 0..20 {
            if !response.status().is_redirection() {
                return (response, None);
            }
            let location = response.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap();
            let next = response.url().join(location).unwrap().to_string();
            if stop(&next) {
                return (response, Some(next));
            }
            response = self.send(self.http.get(&next)).await;
        }
        panic!("too many redirects");
    }

    /// Signs in as `email` from hush's start URL; returns the final answer.
    pub async fn sign_in(&mut self, start: &str, email: &str) -> reqwest::Response {
        let url = format!(
            "{start}{}login_hint={email}",
            if start.contains('?') { '&' } else { '?' }
        );
        let first = self.send(self.http.get(&url)).await;
        self.follow(first, |_| false).await.0
    }

    /// Signs in up to the provider's redirect back to hush; returns the callback URL.
    pub async fn until_callback(&mut self, base: &str, email: &str) -> String {
        let url = format!("{base}/api/v1/auth/sso/start?login_hint={email}");
        let first = self.send(self.http.get(&url)).await;
        let (_, next) = self
            .follow(first, |u| u.contains("/api/v1/auth/sso/callback"))
            .await;
        next.expect("the provider sends the browser back")
    }

    pub async fn me(&mut self, base: &str) -> serde_json::Value {
        let response = self.send(self.http.get(format!("{base}/api/v1/me"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

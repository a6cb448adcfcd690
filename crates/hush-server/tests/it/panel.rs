//! The web panel as served by hush: its pages and assets, and the security headers the
//! browser relies on. (The flows themselves are tested in a real browser: e2e/panel.)

use crate::common;

use common::TestServer;
use hush_server::panel::CONTENT_SECURITY_POLICY;

const PAGES: &[&str] = &[
    "/",
    "/login",
    "/setup",
    "/join",
    "/members",
    "/audit",
    "/account",
    "/shared",
    "/apps/web",
];
const SCRIPTS: &[&str] = &[
    "main.js",
    "account.js",
    "api.js",
    "dom.js",
    "modal.js",
    "editor.js",
    "auth.js",
    "workspace.js",
    "settings.js",
    "status.js",
    "launched.js",
    "people.js",
    "history.js",
    "values.js",
    "dotenv.js",
    "theme.js",
    "environments.js",
    "shared.js",
];

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

/// Each of [`SCRIPTS`] with its source as the server serves it.
async fn script_sources(server: &TestServer) -> Vec<(&'static str, String)> {
    let mut sources = Vec::new();
    for script in SCRIPTS {
        let url = format!("{}/assets/{script}", server.url);
        sources.push((*script, get(&url).await.text().await.unwrap()));
    }
    sources
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header on {}", response.url()))
        .to_str()
        .unwrap()
}

fn assert_locked_down(response: &reqwest::Response) {
    assert_eq!(
        header(response, "content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert_eq!(header(response, "x-frame-options"), "DENY");
}

#[test]
fn the_policy_is_the_strict_one() {
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(part), "{part}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
}

#[tokio::test]
async fn every_page_is_the_panel_uncached_and_locked_down() {
    let server = TestServer::start().await;
    for path in PAGES {
        let response = get(&format!("{}{path}", server.url)).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_locked_down(&response);
        assert_eq!(header(&response, "cache-control"), "no-store", "{path}");
        assert!(header(&response, "content-type").starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(
            html.contains(r#"<script type="module" src="/assets/main.js"></script>"#),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_page_has_no_inline_script_style_or_handler() {
    let server = TestServer::start().await;
    let html = get(&format!("{}/", server.url)).await.text().await.unwrap();
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script type=\"module\" src=\"/assets/")
            .count()
            + html
                .matches("<script src=\"/assets/theme.js\"></script>")
                .count(),
        "every script is an external file of the panel's"
    );
    assert!(!html.contains("<style"), "no inline stylesheet");
    assert!(!html.contains(" style="), "no style attribute");
    assert!(!html.contains(" onclick="), "no inline handler");
}

#[tokio::test]
async fn assets_are_served_with_types_and_revalidated() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (file, kind) in [("app.css", "text/css"), ("favicon.svg", "image/svg+xml")]
        .into_iter()
        .chain(SCRIPTS.iter().map(|s| (*s, "text/javascript")))
    {
        let url = format!("{}/assets/{file}", server.url);
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert_locked_down(&response);
        assert!(
            header(&response, "content-type").starts_with(kind),
            "{file}"
        );
        assert_eq!(header(&response, "cache-control"), "no-cache");
        let etag = header(&response, "etag").to_string();
        let again = http
            .get(&url)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{file}: unchanged means 304");
    }
}

#[tokio::test]
async fn every_module_import_resolves_to_an_embedded_asset() {
    let server = TestServer::start().await;
    for (script, source) in script_sources(&server).await {
        for line in source.lines().filter(|l| l.starts_with("import ")) {
            let target = line
                .split(['\'', '"'])
                .nth(1)
                .unwrap_or_else(|| panic!("{script}: cannot read {line}"));
            let name = target
                .strip_prefix("./")
                .unwrap_or_else(|| panic!("{script}: {target} is not a sibling module"));
            assert!(
                SCRIPTS.contains(&name),
                "{script} imports {name}, which the test does not know"
            );
            let response = get(&format!("{}/assets/{name}", server.url)).await;
            assert_eq!(response.status(), 200, "{script} imports {name}");
        }
    }
}

/// Server strings reach the page only as text: no HTML parsing sinks, no eval.
#[tokio::test]
async fn scripts_never_parse_html_or_evaluate_strings() {
    let server = TestServer::start().await;
    for (script, source) in script_sources(&server).await {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setAttribute('style'",
            "sessionStorage",
            "document.cookie",
        ] {
            assert!(!source.contains(sink), "{script} uses {sink}");
        }
        // Web storage outlives the session: it holds the dark-mode choice and nothing else.
        let storage = source.matches("localStorage").count();
        if script == "theme.js" {
            assert_eq!(storage, 2, "theme.js reads and writes one key");
            assert!(source.contains("const KEY = 'hush-theme';"));
            assert!(source.contains("localStorage.getItem(KEY)"));
            assert!(source.contains("localStorage.setItem(KEY, theme)"));
            assert!(source.contains("const theme = event.detail === 'dark' ? 'dark' : 'light';"));
        } else {
            assert_eq!(storage, 0, "{script} uses localStorage");
        }
    }
}

#[tokio::test]
async fn unknown_paths_get_a_plain_not_found_page_and_the_api_keeps_its_own() {
    let server = TestServer::start().await;
    let response = get(&format!("{}/no/such/page", server.url)).await;
    assert_eq!(response.status(), 404);
    assert_locked_down(&response);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let response = get(&format!("{}/assets/nope.js", server.url)).await;
    assert_eq!(response.status(), 404);

    let api = get(&format!("{}/api/v1/no-such-endpoint", server.url)).await;
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(
        body["error"], "not_found",
        "the API answers in JSON, not HTML"
    );
}

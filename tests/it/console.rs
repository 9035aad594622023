//! The operator console (issue 6) in a real browser: Debian's Chromium, headless, driven through
//! chromedriver by fantoccini against a real gateway on port 0. An operator logs in with a token
//! issued by the CLI, types a call, sees the live check flag the missing place and clear it,
//! reloads mid-typing without losing the draft, types markup that must stay text, submits with
//! Ctrl+Enter, reads the tracking code and looks it up.
//!
//! Synchronisation is by polling DOM conditions under a deadline, never by fixed sleeps.
//! Screenshots of each step go to `<target dir>/console-screenshots/` (test artefacts).
//! `scripts/test` installs `chromium` and `chromium-driver`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::common::Server;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DEADLINE: Duration = Duration::from_secs(20);

/// chromedriver as a child process, killed (by its own pid) when dropped.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts chromedriver and opens a headless Chromium session on it.
async fn browser() -> (Driver, Client) {
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "{CHROMIUM} and {CHROMEDRIVER} are needed (scripts/test installs Debian's chromium and chromium-driver)"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}"), profile };
    let user_data_dir = format!("--user-data-dir={}", driver.profile.path().display());
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1600", user_data_dir,
            ],
        },
    });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    // chromedriver takes a moment to listen: retry the session until the deadline.
    let started = Instant::now();
    loop {
        match ClientBuilder::new(HttpConnector::new()).capabilities(capabilities.clone()).connect(&driver.url).await {
            Ok(client) => return (driver, client),
            Err(e) if started.elapsed() < DEADLINE => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no WebDriver session on {}: {e}", driver.url),
        }
    }
}

/// The target directory (the built binary is `<target>/debug/hue-intake`).
fn screenshot_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_hue-intake"));
    let dir = bin.parent().and_then(Path::parent).unwrap_or(Path::new("target")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script {script:?} failed: {e}"))
}

/// Polls a JS expression until it is `true`; on the deadline, a screenshot and a panic.
async fn wait_until(c: &Client, what: &str, expression: &str) {
    let script = format!("return Boolean({expression});");
    let started = Instant::now();
    loop {
        if js(c, &script).await == Value::Bool(true) {
            return;
        }
        if started.elapsed() > DEADLINE {
            let name = format!("timeout-{}", what.replace(|ch: char| !ch.is_ascii_alphanumeric(), "-"));
            screenshot(c, &name).await;
            let status = js(c, "return document.getElementById('check-status').textContent;").await;
            panic!("timed out waiting for {what} ({expression}); check panel says {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn value(c: &Client, id: &str) -> Value {
    js(c, &format!("var e = document.getElementById('{id}'); return e.type === 'checkbox' ? e.checked : e.value;"))
        .await
}

async fn type_into(c: &Client, id: &str, text: &str) {
    c.find(Locator::Id(id)).await.unwrap().send_keys(text).await.unwrap();
}

/// `HUE-XXXX-XXXX` in Crockford base 32 (no I, L, O, U).
fn is_tracking_code(code: &str) -> bool {
    let alphabet = |ch: char| ch.is_ascii_digit() || (ch.is_ascii_uppercase() && !"ILOU".contains(ch));
    let parts: Vec<&str> = code.split('-').collect();
    parts.len() == 3 && parts[0] == "HUE" && parts[1..].iter().all(|p| p.len() == 4 && p.chars().all(alphabet))
}

/// Issues an operator token with the built binary, as the README tells an administrator to.
async fn issue_token(server: &Server, name: &str) -> String {
    let config = server.dir.path().join("operators.toml");
    std::fs::write(&config, format!("[store]\ndata_dir = {:?}\n", server.dir.path().display().to_string())).unwrap();
    let name = name.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_hue-intake"))
            .args(["operators", "add", &name, "--config"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "operators add: {}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    let token = token.trim();
    assert!(!token.is_empty() && !token.contains('\n'), "one token on one line: {token:?}");
    token.to_owned()
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let server = Server::start().await;
    for (path, content_type) in [
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(header("content-type").starts_with(content_type), "{path}: {}", header("content-type"));
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
        let body = response.text().await.unwrap();
        assert!(!body.contains("https://") && !body.contains("http://"), "{path} refers to another origin");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_operator_takes_a_call_end_to_end_in_the_console() {
    let server = Server::start().await;
    let token = issue_token(&server, "op-17").await;
    let (driver, c) = browser().await;

    // Log in (Enter submits the login form); the interface starts in Vietnamese.
    c.goto(&server.url("/console")).await.unwrap();
    wait_until(&c, "the login form", "document.getElementById('token') && !document.getElementById('login').hidden")
        .await;
    assert_eq!(js(&c, "return document.documentElement.lang;").await, "vi");
    screenshot(&c, "01-login").await;
    type_into(&c, "token", &(token.clone() + &Key::Enter.to_string())).await;
    wait_until(&c, "the call form", "!document.getElementById('app').hidden").await;
    assert_eq!(js(&c, "return sessionStorage.getItem('hue-console-token');").await, token.as_str());

    // The English toggle relabels the page and its lang attribute, and back.
    c.find(Locator::Id("lang-toggle")).await.unwrap().click().await.unwrap();
    wait_until(&c, "English", "document.documentElement.lang === 'en'").await;
    let submit = c.find(Locator::Id("submit-call")).await.unwrap().text().await.unwrap();
    assert_eq!(submit, "Submit report");
    c.find(Locator::Id("lang-toggle")).await.unwrap().click().await.unwrap();
    wait_until(&c, "Vietnamese", "document.documentElement.lang === 'vi'").await;

    // The wards arrive for the address autocomplete.
    wait_until(&c, "the wards list", "document.querySelectorAll('#wards-list option').length >= 40").await;

    // A call with a transcript but no address: the live check flags the place as missing.
    let call_id = value(&c, "call_id").await;
    assert!(call_id.as_str().is_some_and(|id| id.len() == 36), "call_id {call_id}");
    type_into(&c, "caller_number", "0905 123 456").await;
    type_into(&c, "caller_name", "Trần Thị Hoa").await;
    c.find(Locator::Id("consent")).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("category")).await.unwrap().select_by_value("trees").await.unwrap();
    type_into(&c, "transcript", "Cây phượng đổ chắn ngang kiệt, xe máy không đi qua được, sáng nay lúc 7 giờ.").await;
    wait_until(
        &c,
        "location flagged missing",
        "document.getElementById('check-panel').dataset.pending === 'false' \
         && document.querySelector('#check-missing [data-missing=\"location\"]') !== null",
    )
    .await;
    screenshot(&c, "02-location-missing").await;

    // The address clears it, and the ward is placed.
    type_into(&c, "address", "kiệt 12 Nguyễn Trãi, phường Phú Xuân").await;
    wait_until(
        &c,
        "location no longer missing",
        "document.getElementById('check-panel').dataset.pending === 'false' \
         && document.querySelector('#check-missing li') !== null \
         && document.querySelector('#check-missing [data-missing=\"location\"]') === null",
    )
    .await;
    screenshot(&c, "03-location-given").await;

    // A reload mid-typing loses nothing: every field and the call id come back.
    type_into(&c, "summary", "Cây đổ chắn kiệt 12 Nguyễn").await;
    let before: Vec<Value> = {
        let mut v = Vec::new();
        for id in ["call_id", "caller_number", "caller_name", "consent", "category", "address", "transcript", "summary"]
        {
            v.push(value(&c, id).await);
        }
        v
    };
    c.refresh().await.unwrap();
    wait_until(&c, "the form after the reload", "!document.getElementById('app').hidden").await;
    let mut after = Vec::new();
    for id in ["call_id", "caller_number", "caller_name", "consent", "category", "address", "transcript", "summary"] {
        after.push(value(&c, id).await);
    }
    assert_eq!(before, after, "the draft survives a reload");
    assert_eq!(after[0], call_id);
    assert_eq!(after[3], Value::Bool(true));
    screenshot(&c, "04-after-reload").await;

    // Markup typed into a field stays text and never runs.
    let markup = "<script>window.pwned=1</script>";
    c.find(Locator::Id("summary")).await.unwrap().clear().await.unwrap();
    type_into(&c, "summary", markup).await;
    assert_eq!(value(&c, "summary").await, markup);
    // Wait for the check of the new summary, then look for any trace of execution or injection.
    wait_until(&c, "the check of the summary", "document.getElementById('check-panel').dataset.pending === 'false'")
        .await;
    assert_eq!(js(&c, "return typeof window.pwned;").await, "undefined");
    assert_eq!(js(&c, "return document.querySelectorAll('script').length;").await, 1);
    screenshot(&c, "05-markup-as-text").await;

    // Ctrl+Enter submits; the tracking code is shown large and the draft is gone.
    let chord = format!("{}{}{}", Key::Control, Key::Enter, Key::Null);
    type_into(&c, "transcript", &chord).await;
    wait_until(&c, "the tracking code", "document.getElementById('tracking-code').textContent.startsWith('HUE-')")
        .await;
    let code = c.find(Locator::Id("tracking-code")).await.unwrap().text().await.unwrap();
    assert!(is_tracking_code(&code), "tracking code {code:?}");
    assert!(js(&c, "return localStorage.getItem('hue-console-draft');").await.is_null(), "draft cleared");
    let size = c.find(Locator::Id("tracking-code")).await.unwrap().css_value("font-size").await.unwrap();
    assert!(size.trim_end_matches("px").parse::<f64>().unwrap() >= 32.0, "shown large: {size}");
    screenshot(&c, "06-tracking-code").await;

    // The gateway knows the code (public status), and so does the console's lookup.
    let response = server.http.get(server.url(&format!("/v1/reports/{code}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["tracking_code"], code.as_str());
    type_into(&c, "status-code", &(code.clone() + &Key::Enter.to_string())).await;
    wait_until(&c, "the status lookup", "document.querySelector('#status-result [data-field=\"status\"]') !== null")
        .await;
    let shown =
        js(&c, "return document.querySelector('#status-result [data-field=\"tracking_code\"]').textContent;").await;
    assert_eq!(shown, code.as_str());
    screenshot(&c, "07-status-lookup").await;

    // A new call starts clean with a new call id.
    c.find(Locator::Id("new-call")).await.unwrap().click().await.unwrap();
    wait_until(&c, "a clean form", "!document.getElementById('call').hidden").await;
    assert_ne!(value(&c, "call_id").await, call_id);
    assert_eq!(value(&c, "transcript").await, "");
    screenshot(&c, "08-new-call").await;

    c.close().await.unwrap();
    drop(driver);
    server.stop().await;
}

//! The monitoring pages in a real browser: headless Chromium, driven over the DevTools protocol,
//! against `oprun serve` on a seeded SQLite file. It signs in with a token through the form,
//! sees the seeded runs, narrows them with the filter form, sees a failure message with markup
//! rendered as text, and gets the 404 page at a legacy URL without being sent elsewhere.
//! Screenshots of the list and of a run are saved under `target/browser/`.
//!
//! Needs Chromium (`chromium` on the PATH, or `OPRUN_CHROMIUM`); without it the test says so
//! and passes, unless `OPRUN_REQUIRE_BROWSER=1` (as in CI, which installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
mod http_support;

use base64::Engine;
use common::{ok, seed};
use http_support::{Server, http};
use operation_runs_tests::{Backend, TestDb};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tungstenite::{Message, WebSocket};

const XSS_MESSAGE: &str = "<script>document.title='owned'</script><b>bold</b>";

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OPRUN_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Headless Chromium with a DevTools endpoint; killed when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    devtools: String,
}

impl Browser {
    fn launch(binary: &Path) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut devtools = None;
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            if let Some(at) = line.find("ws://") {
                let url = line[at + 5..].trim();
                devtools = Some(url.split('/').next().unwrap().to_owned());
                break;
            }
            line.clear();
        }
        // Keep draining (D-Bus complaints and the like) so Chromium never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let devtools = devtools.expect("Chromium printed its DevTools address");
        Self {
            child,
            _profile: profile,
            devtools,
        }
    }

    /// A DevTools session on the browser's first page.
    fn page(&self) -> Page {
        let list = http(&self.devtools, "GET", "/json/list", &[], "");
        let targets: Value = serde_json::from_str(&list.body).unwrap();
        let target = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let url = target["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tungstenite::connect(url).unwrap();
        let mut page = Page { socket, next: 0 };
        page.call("Page.enable", json!({}));
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Page {
    socket: WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next: u64,
}

impl Page {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let request = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::text(request.to_string()))
            .unwrap();
        loop {
            let message = self.socket.read().unwrap();
            let Ok(text) = message.into_text() else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            if value["id"] == id {
                assert!(value.get("error").is_none(), "{method}: {value}");
                return value["result"].clone();
            }
        }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Waits (bounded) until the page at `path` has loaded; returns its path and query.
    fn settle_at(&mut self, path: &str) -> String {
        let check = "location.pathname + location.search + '|' + document.readyState";
        let mut seen = String::new();
        for _ in 0..200 {
            seen = self.eval(check).as_str().unwrap_or_default().to_owned();
            if seen.starts_with(path) && seen.ends_with("|complete") {
                return seen.trim_end_matches("|complete").to_owned();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = self.eval("document.body ? document.body.innerText : ''");
        panic!("never reached {path}; last at {seen}: {text}");
    }

    fn open(&mut self, url: &str, path: &str) -> String {
        self.call("Page.navigate", json!({"url": url}));
        self.settle_at(path)
    }

    fn screenshot(&mut self, to: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, png).unwrap();
    }

    fn run_rows(&mut self) -> Vec<String> {
        let rows = self.eval(
            "Array.from(document.querySelectorAll('tbody tr td:first-child a'))\
             .map(a => a.textContent)",
        );
        rows.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/browser")
        .to_path_buf()
}

#[tokio::test]
async fn a_person_signs_in_filters_reads_a_run_and_meets_a_legacy_url() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var("OPRUN_REQUIRE_BROWSER").is_err(),
            "OPRUN_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!("skipped: no Chromium (install Debian's `chromium` or set OPRUN_CHROMIUM)");
        return;
    };
    let db = TestDb::migrated(Backend::Sqlite).await.unwrap();
    let url = db.url.as_str();
    let seeded = seed(&db).await;
    let (ws, tenant) = (seeded.workspace.to_string(), seeded.tenant.to_string());
    let start = |run_type: &str, key: &str| {
        let identity = format!("{{\"k\":\"{key}\"}}");
        seeded
            .start_run(url, run_type, &["--identity", &identity])
            .to_string()
    };
    let running = start("inventory_sync", "a");
    ok(url, &["runs", "begin", &running]);
    ok(
        url,
        &["runs", "progress", &running, "--count", "processed=40"],
    );
    let failed = start("entra_group_sync", "b");
    ok(url, &["runs", "begin", &failed]);
    let failure = format!("graph_unavailable={XSS_MESSAGE}");
    ok(
        url,
        &[
            "runs",
            "complete",
            &failed,
            "--outcome",
            "failed",
            "--failure",
            &failure,
        ],
    );
    let token = seeded.viewer_token(url);

    let server = Server::start(url);
    let base = format!("http://{}", server.address);
    let browser = Browser::launch(&binary);
    let mut page = browser.page();

    // Signing in: the list sends the browser to the form, which brings it back.
    let list = format!("/workspaces/{ws}/operations");
    let at = page.open(&format!("{base}{list}"), "/sign-in");
    assert!(at.starts_with("/sign-in?next="), "{at}");
    page.eval(&format!(
        "document.querySelector('input[name=token]').value = '{token}';\
         document.querySelector('form').submit()"
    ));
    assert_eq!(page.settle_at(&list), list);
    assert_eq!(
        page.run_rows(),
        [format!("#{failed}"), format!("#{running}")]
    );
    // The stylesheet, allowed by its hash in the Content-Security-Policy, applies.
    assert_eq!(
        page.eval("getComputedStyle(document.querySelector('th')).backgroundColor"),
        "rgb(244, 244, 244)"
    );
    page.screenshot(&screenshots_dir().join("list.png"));

    // The filter form narrows the list.
    page.eval(
        "document.querySelector('select[name=status]').value = 'running';\
         document.querySelector('form.filters').submit()",
    );
    let filtered = page.settle_at(&format!("{list}?"));
    assert!(filtered.contains("status=running"), "{filtered}");
    assert_eq!(page.run_rows(), [format!("#{running}")]);

    // The failed run: its message shows as text; no markup of it ran or rendered.
    let detail = format!("{list}/{failed}");
    page.open(&format!("{base}{detail}"), &detail);
    let cell = page.eval(
        "Array.from(document.querySelectorAll('td')).map(td => td.textContent)\
         .find(t => t.includes('document.title'))",
    );
    assert_eq!(cell, XSS_MESSAGE);
    assert_eq!(
        page.eval("document.querySelectorAll('script, b').length"),
        0
    );
    assert_ne!(page.eval("document.title"), "owned");
    page.screenshot(&screenshots_dir().join("detail.png"));

    // A legacy URL: the not-found page, and the browser stays where it was sent.
    let legacy = format!("/admin/t/{tenant}/inventory-sync-runs/{running}");
    assert_eq!(page.open(&format!("{base}{legacy}"), &legacy), legacy);
    assert_eq!(
        page.eval("document.querySelector('h1').textContent"),
        "Not found"
    );
    assert_eq!(
        page.eval("document.body.textContent.includes('sync')"),
        false
    );

    drop(page);
    drop(browser);
    assert_eq!(server.stop(), 0);
}

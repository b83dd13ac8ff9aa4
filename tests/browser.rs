//! Headless Chromium driven over the DevTools protocol (CDP), for end-to-end tests of what
//! Ringside serves to web pages (the widget script, later browser calls).
//!
//! [`Browser::launch`] starts `chromium --headless=new` on a free debugging port with a
//! throw-away profile; [`Browser::open`] opens a page and returns a [`Page`] whose
//! [`Page::eval`] runs JavaScript in it (promises awaited, results by value). The browser is
//! killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The Chromium binary: `RINGSIDE_CHROMIUM`, else `chromium` on the PATH.
pub fn chromium_bin() -> String {
    std::env::var("RINGSIDE_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// A running headless Chromium.
pub struct Browser {
    child: Child,
    port: u16,
    profile: PathBuf,
    http: reqwest::Client,
}

/// One page (tab) of the browser.
pub struct Page {
    ws: Ws,
    next_id: AtomicU64,
    /// Console errors, uncaught exceptions and error log entries (failed loads, CSP
    /// refusals) the page reported since the last [`Page::take_errors`].
    errors: Vec<String>,
    /// `ServiceWorker.*` events read so far ([`Page::take_events`]).
    events: Vec<Value>,
}

impl Browser {
    /// Starts Chromium with `extra` flags (e.g. fake media devices).
    pub async fn launch(extra: &[&str]) -> Browser {
        let port = crate::free_port();
        let profile =
            std::env::temp_dir().join(format!("ringside-chromium-{}-{port}", std::process::id()));
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--remote-debugging-port={port}"),
            "--remote-allow-origins=*".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("about:blank".into());
        let child = Command::new(chromium_bin())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromium (apt-get install chromium)");
        let b = Browser {
            child,
            port,
            profile,
            http: reqwest::Client::new(),
        };
        for _ in 0..300 {
            if let Ok(r) = b
                .http
                .get(format!("http://127.0.0.1:{port}/json/version"))
                .send()
                .await
            {
                if r.status().is_success() {
                    return b;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromium did not open its debugging port");
    }

    /// Opens `url` in a new tab.
    pub async fn open(&self, url: &str) -> Page {
        let t: Value = self
            .http
            .put(format!("http://127.0.0.1:{}/json/new?{url}", self.port))
            .send()
            .await
            .expect("open a tab")
            .json()
            .await
            .expect("tab description");
        let ws_url = t["webSocketDebuggerUrl"]
            .as_str()
            .expect("webSocketDebuggerUrl");
        let (ws, _) = connect_async(ws_url).await.expect("connect to the tab");
        let mut page = Page {
            ws,
            next_id: AtomicU64::new(1),
            errors: Vec::new(),
            events: Vec::new(),
        };
        // Report console errors, exceptions and error log entries from here on.
        page.call("Runtime.enable", json!({})).await;
        page.call("Log.enable", json!({})).await;
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Page {
    /// Sends one CDP command and waits for its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(v) => v,
            Err(e) => panic!("CDP {method} failed: {e}"),
        }
    }

    /// The `ServiceWorker.*` events read since the last call.
    pub fn take_events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
    }

    /// [`Page::call`], the error returned instead of failing the test.
    pub async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("send to the tab");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("the tab answers")
                .expect("tab socket open")
                .expect("tab frame");
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).expect("CDP JSON");
                self.note_error(&v);
                if v["method"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("ServiceWorker."))
                {
                    self.events.push(v.clone());
                }
                if v["id"] == id {
                    if let Some(e) = v.get("error") {
                        return Err(e.clone());
                    }
                    return Ok(v["result"].clone());
                }
            }
        }
    }

    /// Keeps what an event says went wrong in the page.
    fn note_error(&mut self, v: &Value) {
        let p = &v["params"];
        let text = match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => Some(
                p["exceptionDetails"]["exception"]["description"]
                    .as_str()
                    .or(p["exceptionDetails"]["text"].as_str())
                    .unwrap_or("exception")
                    .to_owned(),
            ),
            Some("Runtime.consoleAPICalled") if p["type"] == "error" => Some(
                p["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| {
                                x["value"]
                                    .as_str()
                                    .or(x["description"].as_str())
                                    .unwrap_or("")
                                    .to_owned()
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default(),
            ),
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => Some(format!(
                "{} {}",
                p["entry"]["text"].as_str().unwrap_or(""),
                p["entry"]["url"].as_str().unwrap_or("")
            )),
            _ => None,
        };
        if let Some(t) = text {
            self.errors.push(t);
        }
    }

    /// What went wrong in the page (console errors, exceptions, failed loads, CSP refusals)
    /// since the last call, as far as the events read so far tell.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }

    /// Evaluates `expr` every 100 ms until `done` accepts its value (at most 20 s); returns
    /// the last value either way, for the caller to assert on.
    pub async fn eval_until(&mut self, expr: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut v = Value::Null;
        for _ in 0..200 {
            v = self.eval(expr).await;
            if done(&v) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        v
    }

    /// Navigates to `url` and waits until the page at `path` has loaded.
    pub async fn goto(&mut self, url: &str, path: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        let expr = format!(
            "document.readyState === 'complete' && location.pathname === {}",
            json!(path)
        );
        let v = self.eval_until(&expr, |v| v == &json!(true)).await;
        assert_eq!(v, json!(true), "{url} did not load at {path}");
    }

    /// Presses and releases a key as a keyboard does: `Tab`, `Enter`, `Space`.
    pub async fn press(&mut self, key: &str) {
        let (code, vk, text) = match key {
            "Tab" => ("Tab", 9, ""),
            "Enter" => ("Enter", 13, "\r"),
            "Space" => ("Space", 32, " "),
            other => panic!("no key {other}"),
        };
        let key_name = if key == "Space" { " " } else { key };
        let mut down = json!({"type": "keyDown", "key": key_name, "code": code,
                              "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk});
        if !text.is_empty() {
            down["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down).await;
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key_name, "code": code,
                   "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}),
        )
        .await;
    }

    /// Types `text` into whatever has the focus.
    pub async fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// Presses Tab until the element with `id` has the focus (at most `max` times); false
    /// when it never did.
    pub async fn tab_to(&mut self, id: &str, max: usize) -> bool {
        let expr = format!(
            "document.activeElement && document.activeElement.id === {}",
            json!(id)
        );
        for _ in 0..max {
            self.press("Tab").await;
            if self.eval(&expr).await == json!(true) {
                return true;
            }
        }
        false
    }

    /// Emulates a screen of `width` x `height` CSS pixels (`mobile`: a phone's).
    pub async fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// Saves a PNG of the page as it looks to `target/screenshots/<dir>/<name>.png` (kept as
    /// the run's artifacts) and returns its path.
    pub async fn screenshot(&mut self, dir: &str, name: &str) -> PathBuf {
        use base64::Engine as _;
        // A tab opened in the background may not have been laid out yet (0 px wide): give it
        // a laptop's screen then.
        if self.eval("window.innerWidth").await.as_u64().unwrap_or(0) == 0 {
            self.viewport(1280, 900, false).await;
        }
        let shot = json!({"format": "png", "captureBeyondViewport": true});
        let mut tries = 0;
        let r = loop {
            match self.try_call("Page.captureScreenshot", shot.clone()).await {
                Ok(r) => break r,
                // A tab behind others, or not laid out yet, may have no size to capture
                // ("Cannot take screenshot with 0 width"): in front, as its person would look
                // at it, with a laptop's screen, and again after a moment.
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("screenshot {name}: {e}; trying again");
                    self.call("Page.bringToFront", json!({})).await;
                    self.viewport(1280, 900, false).await;
                    tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
                }
                Err(e) => panic!("CDP Page.captureScreenshot failed: {e}"),
            }
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        let dir = crate::workspace_root().join("target/screenshots").join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Runs axe-core (WCAG 2 A/AA rules and best practices) on the page and returns its
    /// violations of impact `serious` or `critical`, as `rule: what (targets)` lines.
    pub async fn axe_serious(&mut self) -> Vec<String> {
        let path = std::env::var("RINGSIDE_AXE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                crate::workspace_root().join("target/axe/node_modules/axe-core/axe.min.js")
            });
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core at {} ({e}): `npm install --prefix target/axe axe-core` \
                 (tests/run.sh does)",
                path.display()
            )
        });
        self.call(
            "Runtime.evaluate",
            json!({"expression": src, "returnByValue": true}),
        )
        .await;
        let v = self
            .eval(
                "axe.run(document, {runOnly: {type: 'tag', values: \
                 ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}}) \
                 .then(r => r.violations.filter(v => v.impact === 'serious' || \
                 v.impact === 'critical').map(v => v.id + ': ' + v.help + ' (' + \
                 v.nodes.map(n => n.target.join(' ')).join(', ') + ')'))",
            )
            .await;
        let list = v.as_array().expect("axe ran").clone();
        list.iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The page as a person sees it: a screenshot to `target/screenshots/<dir>/<name>.png`,
    /// and axe-core finds no serious or critical violation (the test fails otherwise).
    pub async fn look(&mut self, dir: &str, name: &str) {
        let path = self.screenshot(dir, name).await;
        assert!(
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > 1000,
            "{name} screenshot"
        );
        let serious = self.axe_serious().await;
        assert!(serious.is_empty(), "{name}: axe-core found {serious:#?}");
    }

    /// Waits (as [`Page::eval_until`]) until `expr` is true; fails with `what` otherwise.
    pub async fn wait_true(&mut self, expr: &str, what: &str) {
        let v = self.eval_until(expr, |v| v == &json!(true)).await;
        assert_eq!(v, json!(true), "{what}: {expr}");
    }

    /// Types `value` into `#id` as a person would (focus, value, input event).
    pub async fn fill(&mut self, id: &str, value: &str) {
        let ok = self
            .eval(&format!(
                "(() => {{ const e = document.getElementById({id}); if (!e) return false; e.focus(); \
                 e.value = {v}; e.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()",
                id = json!(id),
                v = json!(value)
            ))
            .await;
        assert_eq!(ok, json!(true), "fill #{id}");
    }

    /// Clicks the first element matching `selector` (confirmation dialogs answered yes).
    pub async fn click(&mut self, selector: &str) {
        let ok = self
            .eval(&format!(
                "(() => {{ window.confirm = () => true; const b = document.querySelector({s}); \
                 if (!b) return false; b.click(); return true; }})()",
                s = json!(selector)
            ))
            .await;
        assert_eq!(ok, json!(true), "click {selector}");
    }

    /// Evaluates `expr` in the page (awaiting a promise) and returns its value; `Null` when
    /// it threw, or when the page went on to another document meanwhile (a form's submit or a
    /// redirect: the evaluation had no page to finish in; `eval_until` then tries again).
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = match self
            .try_call(
                "Runtime.evaluate",
                json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
            )
            .await
        {
            Ok(r) => r,
            Err(e)
                if [
                    "navigated or closed",
                    "context was destroyed",
                    "Cannot find context",
                ]
                .iter()
                .any(|m| e["message"].as_str().unwrap_or("").contains(m)) =>
            {
                return Value::Null;
            }
            Err(e) => panic!("CDP Runtime.evaluate failed: {e}"),
        };
        if r.get("exceptionDetails").is_some() {
            return Value::Null;
        }
        r["result"]["value"].clone()
    }
}

/// Serves `/` and `/pricing`, each embedding `snippet`; returns the port.
pub async fn site(snippet: String) -> u16 {
    site_on(std::net::Ipv4Addr::LOCALHOST, snippet).await
}

/// [`site`] listening on `ip`.
pub async fn site_on(ip: std::net::Ipv4Addr, snippet: String) -> u16 {
    let page = |title: &'static str, snippet: String| {
        format!(
            "<!doctype html><html lang=\"en\"><head><title>{title}</title><link rel=\"icon\" href=\"data:,\"></head>\
             <body><h1>{title}</h1>{snippet}</body></html>"
        )
    };
    let (home, pricing) = (page("Home", snippet.clone()), page("Pricing", snippet));
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(home) }),
        )
        .route(
            "/pricing",
            axum::routing::get(move || async move { axum::response::Html(pricing) }),
        );
    let l = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    port
}

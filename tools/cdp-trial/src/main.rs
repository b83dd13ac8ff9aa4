//! Trial (not part of the suite): chromiumoxide driving Debian's Chromium the way tests/browser.rs
//! does. Prints each round's time and the handler's errors; the warnings chromiumoxide logs for
//! CDP messages it cannot parse go to stderr. Decision and figures: BENCHMARKS.md, "CDP client".
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::ScreenshotParams;
use futures::StreamExt;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn site() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            let mut b = [0u8; 4096];
            let n = s.read(&mut b).unwrap_or(0);
            let req = String::from_utf8_lossy(&b[..n]);
            let body = if req.starts_with("GET /pricing") {
                "<title>Pricing</title><p>pricing</p>"
            } else {
                "<title>Home</title><script>setTimeout(()=>{window.Ready={id:'v_1'};},300);\
                 navigator.mediaDevices.getUserMedia({audio:true}).then(s=>{window.Mic=s.getAudioTracks().length});</script>"
            };
            let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("chromiumoxide=warn")
        .init();
    let port = site();
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut total = Duration::ZERO;
    for round in 0..rounds {
        let t0 = Instant::now();
        let dir = std::env::temp_dir().join(format!("cdptrial-{}-{round}", std::process::id()));
        let config = BrowserConfig::builder()
            .chrome_executable("/usr/bin/chromium")
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(&dir)
            .args([
                "use-fake-ui-for-media-stream",
                "use-fake-device-for-media-stream",
            ])
            .build()?;
        let (mut browser, mut handler) = Browser::launch(config).await?;
        let h = tokio::spawn(async move {
            let mut errors = 0;
            while let Some(ev) = handler.next().await {
                if let Err(e) = ev {
                    errors += 1;
                    eprintln!("handler error: {e}");
                }
            }
            errors
        });
        let page = browser
            .new_page(format!("http://localhost:{port}/"))
            .await?;
        let mut id = serde_json::Value::Null;
        for _ in 0..200 {
            id = page
                .evaluate("window.Ready && window.Ready.id")
                .await?
                .into_value()
                .unwrap_or_default();
            if id.is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(id, "v_1");
        let mic: serde_json::Value = page.evaluate("new Promise(r => setTimeout(() => r(window.Mic === undefined ? 'none' : window.Mic), 500))").await?.into_value()?;
        assert_eq!(mic, 1);
        page.evaluate("location.href = '/pricing'").await?;
        let mut path = serde_json::Value::Null;
        for _ in 0..200 {
            path = page
                .evaluate("location.pathname")
                .await
                .ok()
                .and_then(|r| r.into_value().ok())
                .unwrap_or_default();
            if path == "/pricing" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(path, "/pricing");
        let png = page.screenshot(ScreenshotParams::builder().build()).await?;
        assert!(png.starts_with(b"\x89PNG"));
        browser.close().await?;
        let _ = browser.wait().await;
        let errors = h.await?;
        let _ = std::fs::remove_dir_all(&dir);
        let dt = t0.elapsed();
        total += dt;
        println!("round {round}: {dt:?}, handler errors {errors}");
    }
    println!(
        "chromiumoxide_round_ms: {:.0}",
        total.as_secs_f64() * 1000.0 / rounds as f64
    );
    Ok(())
}

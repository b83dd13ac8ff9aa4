//! A widget's own prompts through the router: multipart, raw and URL-imported WAV uploads,
//! the listing (widget over tenant over default), audio, removal; refusals (bad type, bad
//! audio, private import URLs, other tenants) keep what was in force. On SQLite, and on
//! PostgreSQL when `RINGSIDE_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use common::{assert_error, backends, App, Harness};
use ringside_api::AppState;
use ringside_media::player::{AssetRegistry, Assets};
use serde_json::json;

/// A mono 16-bit 8 kHz WAV of `ms` milliseconds of a square-ish tone.
fn wav(ms: u32) -> Vec<u8> {
    let n = 8 * ms;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + n * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let v: i16 = if (i / 4) % 2 == 0 { 3000 } else { -3000 };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

async fn send_raw(
    app: &App,
    method: &str,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value, Vec<u8>) {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let resp = app.app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        bytes,
    )
}

/// Serves `/tone.wav` (a WAV) and `/junk` (not audio) on loopback; returns the base URL.
async fn wav_server() -> String {
    let tone = wav(300);
    let app = axum::Router::new()
        .route(
            "/tone.wav",
            axum::routing::get(move || {
                let t = tone.clone();
                async move { ([("content-type", "audio/wav")], t) }
            }),
        )
        .route("/junk", axum::routing::get(|| async { "not a wav" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn widget_prompt_uploads_imports_and_refusals() {
    let base = wav_server().await;
    for b in backends("ringside-widget-prompts").await {
        let dir = std::env::temp_dir().join(format!("ringside-wp-{}", rand::random::<u64>()));
        let reg = |sub: &str| Arc::new(AssetRegistry::new(dir.join(sub), Arc::new(Assets::new())));
        let app = App::with_state(AppState {
            prompts: reg("prompts"),
            widget_prompts: reg("widgets"),
            fetch_policy: ringside_api::outbound::FetchPolicy {
                allow_private: true,
            },
            ..common::state(&b.store)
        });
        let owner = app
            .token("owner@wp.example", &["widgets:read", "widgets:write"])
            .await;
        let (_, w) = app
            .json("POST", "/api/v1/widgets", &owner, json!({"name": "Shop"}))
            .await;
        let widget = w["id"].as_str().unwrap().to_owned();
        let path = |k: &str| format!("/api/v1/widgets/{widget}/prompts/{k}");
        let (st, list) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/prompts"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(st, 200, "{}: {list}", b.name);
        assert!(list
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["source"] == "default"));

        // The tenant's hold music shows through until the widget has its own.
        let (st, _, _) = send_raw(
            &app,
            "PUT",
            "/api/v1/media/prompts/holdMusic",
            &owner,
            "audio/wav",
            wav(400),
        )
        .await;
        assert_eq!(st, 200);
        // Multipart upload.
        let boundary = "XrsBoundary";
        let mut mp = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .into_bytes();
        mp.extend_from_slice(&wav(500));
        mp.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let (st, v, _) = send_raw(
            &app,
            "PUT",
            &path("unavailable"),
            &owner,
            &format!("multipart/form-data; boundary={boundary}"),
            mp,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            (v["source"].as_str(), v["durationMs"].as_u64()),
            (Some("widget"), Some(500))
        );
        // Raw upload and URL import.
        let (st, v, _) = send_raw(
            &app,
            "PUT",
            &path("acceptPrompt"),
            &owner,
            "audio/wav",
            wav(200),
        )
        .await;
        assert_eq!((st, v["durationMs"].as_u64()), (200, Some(200)), "{v}");
        let (st, v) = app
            .json(
                "PUT",
                &path("holdMusic"),
                &owner,
                json!({"url": format!("{base}/tone.wav")}),
            )
            .await;
        assert_eq!(
            (st.as_u16(), v["durationMs"].as_u64()),
            (200, Some(300)),
            "{v}"
        );
        let (_, list) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/prompts"),
                Some(&owner),
                None,
            )
            .await;
        let src: Vec<_> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["source"].clone())
            .collect();
        assert_eq!(
            src,
            vec![
                json!("widget"),
                json!("widget"),
                json!("widget"),
                json!("default")
            ],
            "{list}"
        );
        let (st, _, audio) = send_raw(
            &app,
            "GET",
            &path("unavailable/audio"),
            &owner,
            "audio/wav",
            vec![],
        )
        .await;
        assert_eq!((st, audio), (200, wav(500)));

        // Refusals leave the uploads alone.
        for (ct, body, status, code) in [
            (
                "text/plain",
                b"hello".to_vec(),
                415,
                "unsupported_media_type",
            ),
            ("audio/wav", b"RIFF garbage".to_vec(), 422, "invalid_audio"),
        ] {
            let (st, v, _) = send_raw(&app, "PUT", &path("unavailable"), &owner, ct, body).await;
            assert_eq!(st, status, "{v}");
            assert_error(&v, code);
        }
        for (url, code) in [
            (format!("{base}/junk"), "invalid_audio"),
            ("ftp://example.com/x.wav".to_owned(), "invalid_field"),
            ("not a url".to_owned(), "invalid_field"),
            (format!("{base}/missing.wav"), "invalid_field"),
        ] {
            let (st, v) = app
                .json("PUT", &path("unavailable"), &owner, json!({"url": url}))
                .await;
            assert_eq!(st, 422, "{url}: {v}");
            assert_error(&v, code);
        }
        let (_, _, audio) = send_raw(
            &app,
            "GET",
            &path("unavailable/audio"),
            &owner,
            "audio/wav",
            vec![],
        )
        .await;
        assert_eq!(audio, wav(500), "still the widget's upload");
        // Imports from private addresses are refused where not allowed.
        let strict = App::with_state(AppState {
            widget_prompts: reg("widgets"),
            ..common::state(&b.store)
        });
        let (st, v) = strict
            .json(
                "PUT",
                &path("unavailable"),
                &owner,
                json!({"url": format!("{base}/tone.wav")}),
            )
            .await;
        assert_eq!(st, 422, "{v}");
        assert_error(&v, "invalid_field");
        // Unknown kinds, other tenants, missing scopes.
        let (st, _, _) = send_raw(&app, "PUT", &path("bogus"), &owner, "audio/wav", wav(100)).await;
        assert_eq!(st, 404);
        let stranger = app
            .token("s@wp-other.example", &["widgets:read", "widgets:write"])
            .await;
        let (st, _, _) = send_raw(
            &app,
            "PUT",
            &path("unavailable"),
            &stranger,
            "audio/wav",
            wav(100),
        )
        .await;
        assert_eq!(st, 404);
        let reader = app.token("owner@wp.example", &["widgets:read"]).await;
        let (st, _, _) = send_raw(
            &app,
            "PUT",
            &path("unavailable"),
            &reader,
            "audio/wav",
            wav(100),
        )
        .await;
        assert_eq!(st, 403);
        // Removal: back to the tenant's hold music, then 404.
        let (st, _) = app
            .call("DELETE", &path("holdMusic"), Some(&owner), None)
            .await;
        assert_eq!(st, 204);
        let (_, list) = app
            .call(
                "GET",
                &format!("/api/v1/widgets/{widget}/prompts"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(list[0]["source"], "tenant", "{list}");
        assert_eq!(list[0]["durationMs"], 400);
        let (st, _) = app
            .call("DELETE", &path("holdMusic"), Some(&owner), None)
            .await;
        assert_eq!(st, 404);
        b.finish().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

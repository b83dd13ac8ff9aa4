//! Router tests for call recordings (list, get, ranged download, delete) and the tenant's
//! prompts (upload, list, download, reset): scopes, tenant isolation, validation and the
//! stable JSON error body, on SQLite and, when `RINGSIDE_TEST_POSTGRES_URL` is set,
//! PostgreSQL. Recording files and prompts live in a fresh data directory per context.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{assert_error, Backend, Harness};
use http_body_util::BodyExt;
use ringside_api::{router, AppState};
use ringside_media::player::{AssetKind, AssetRegistry, Assets};
use ringside_storage::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Ctx {
    app: axum::Router,
    store: Store,
    /// The data directory recordings and prompts are resolved against.
    data: std::path::PathBuf,
}

async fn backends() -> Vec<Backend> {
    common::backends("ringside-api-media").await
}

fn ctx(store: Store) -> Ctx {
    let data = std::env::temp_dir().join(format!("ringside-api-data-{}", rand::random::<u64>()));
    let registry =
        |dir: &str| Arc::new(AssetRegistry::new(data.join(dir), Arc::new(Assets::new())));
    let app = router(AppState {
        data_dir: data.clone(),
        prompts: registry("prompts"),
        widget_prompts: registry("prompts-widgets"),
        public_url: "https://calls.example.net".into(),
        ..common::state(&store)
    });
    Ctx { app, store, data }
}

impl Harness for Ctx {
    fn app(&self) -> &axum::Router {
        &self.app
    }
    fn store(&self) -> &Store {
        &self.store
    }
}

fn uniq(p: &str) -> String {
    format!("{p}{}", rand::random::<u32>() % 1_000_000)
}

impl Ctx {
    /// A request with optional token and extra headers; returns status, headers and raw body.
    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .app
            .clone()
            .oneshot(b.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    /// A call of the tenant of `email` with one recording whose file holds `content`:
    /// (call id, recording id, file path).
    async fn recorded_call(
        &self,
        email: &str,
        content: &[u8],
        finished: bool,
    ) -> (String, String, std::path::PathBuf) {
        let tenant = self.store.ensure_user(email).await.unwrap().tenant_id;
        let call_id = ringside_storage::new_id();
        let now = ringside_storage::now_ms();
        self.store
            .insert_call(&ringside_storage::CallRecord {
                id: call_id.clone(),
                tenant_id: tenant.clone(),
                kind: "sip".parse().unwrap(),
                from_uri: "sip:alice@example.com".into(),
                to_uri: "sip:bob@example.com".into(),
                status: "ended".parse().unwrap(),
                started_at: now,
                answered_at: Some(now),
                ended_at: Some(now + 1000),
                end_reason: None,
                hangup_side: None,
                widget_id: None,
                visitor_id: None,
                answered_by: None,
                node_id: None,
                legs: Vec::new(),
            })
            .await
            .unwrap();
        let id = ringside_storage::new_id();
        let rel = format!("recordings/{tenant}/{id}.wav");
        let file = self.data.join(&rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        let path = file.clone();
        self.store
            .insert_recording(
                &tenant,
                &ringside_storage::NewRecording {
                    id: id.clone(),
                    call_id: call_id.clone(),
                    path: rel,
                    sample_rate: 8000,
                    channels: 2,
                    started_at: now,
                },
            )
            .await
            .unwrap();
        if finished {
            self.store
                .finish_recording(&tenant, &id, 1000, content.len() as i64, now + 1000)
                .await
                .unwrap();
        }
        (call_id, id, path)
    }
}

#[tokio::test]
async fn recordings_list_get_download_ranges_and_delete() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let email_a = format!("{}@a.example", uniq("rec"));
        let rw = c.token(&email_a, &["calls:read", "calls:write"]).await;
        let ro = c.token(&email_a, &["calls:read"]).await;
        let sip = c.token(&email_a, &["sip:read"]).await;
        let other = c
            .token(
                &format!("{}@b.example", uniq("rec")),
                &["calls:read", "calls:write"],
            )
            .await;
        let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let len = content.len();
        let (call_id, id, file) = c.recorded_call(&email_a, &content, true).await;
        assert!(file.exists(), "[{name}]");

        let list = format!("/api/v1/calls/{call_id}/recordings");
        let one = format!("/api/v1/recordings/{id}");
        let dl = format!("/api/v1/recordings/{id}/download");

        // 401 without a token, 403 without the scope.
        for (m, p) in [
            ("GET", &list),
            ("GET", &one),
            ("GET", &dl),
            ("DELETE", &one),
        ] {
            let (st, b) = c.call(m, p, None, None).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p}");
            assert_error(&b, "unauthorized");
            let token = if m == "GET" { &sip } else { &ro };
            let (st, b) = c.call(m, p, Some(token), None).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] {m} {p}");
            assert_error(&b, "forbidden");
            // Another tenant: 404, and nothing happens.
            let (st, b) = c.call(m, p, Some(&other), None).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {m} {p} cross-tenant");
            assert_error(&b, "not_found");
        }
        assert!(file.exists());
        assert_eq!(
            c.call("GET", "/api/v1/recordings/nope", Some(&ro), None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.call("GET", "/api/v1/calls/nope/recordings", Some(&ro), None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );

        // List and get.
        let (st, b) = c.call("GET", &list, Some(&ro), None).await;
        assert_eq!(st, StatusCode::OK, "[{name}] {b}");
        let arr = b.as_array().unwrap();
        assert_eq!(arr.len(), 1);
        let r = &arr[0];
        assert_eq!(r["id"], id.as_str());
        assert_eq!(r["callId"], call_id.as_str());
        assert_eq!(r["durationMs"], 1000);
        assert_eq!(r["bytes"], len);
        assert_eq!(r["sampleRate"], 8000);
        assert_eq!(r["channels"], 2);
        assert_eq!(r["status"], "complete");
        assert_eq!(r["format"], "wav");
        assert!(r["startedAt"].is_i64() && r["endedAt"].is_i64(), "{r}");
        assert_eq!(r["downloadUrl"], dl.as_str());
        let (st, b) = c.call("GET", &one, Some(&ro), None).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(&b, r);

        // Full download.
        let (st, h, body) = c.raw("GET", &dl, Some(&ro), &[]).await;
        assert_eq!(st, StatusCode::OK, "[{name}]");
        assert_eq!(h["content-type"], "audio/wav");
        assert_eq!(h["accept-ranges"], "bytes");
        assert_eq!(h["content-length"], len.to_string().as_str());
        assert!(h.get("content-range").is_none());
        assert_eq!(body, content);

        // Ranges.
        for (range, start, end) in [
            ("bytes=0-0", 0, 0),
            ("bytes=100-65635", 100, 65635),
            ("bytes=70000-", 70000, len - 1),
            ("bytes=-1234", len - 1234, len - 1),
            ("bytes=-999999", 0, len - 1),
            ("bytes=199990-300000", 199990, len - 1),
        ] {
            let (st, h, body) = c.raw("GET", &dl, Some(&ro), &[("range", range)]).await;
            assert_eq!(st, StatusCode::PARTIAL_CONTENT, "[{name}] {range}");
            assert_eq!(
                h["content-range"],
                format!("bytes {start}-{end}/{len}").as_str(),
                "{range}"
            );
            assert_eq!(h["content-length"], (end - start + 1).to_string().as_str());
            assert_eq!(h["accept-ranges"], "bytes");
            assert_eq!(body, &content[start..=end], "{range}");
        }
        for range in ["bytes=200000-", "bytes=500000-600000", "bytes=-0"] {
            let (st, h, body) = c.raw("GET", &dl, Some(&ro), &[("range", range)]).await;
            assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE, "[{name}] {range}");
            assert_eq!(h["content-range"], format!("bytes */{len}").as_str());
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_error(&v, "range_not_satisfiable");
        }
        // Several ranges or a malformed header: the whole file.
        for range in ["bytes=0-1,5-6", "bytes=x-y", "lines=1-2"] {
            let (st, _, body) = c.raw("GET", &dl, Some(&ro), &[("range", range)]).await;
            assert_eq!(st, StatusCode::OK, "[{name}] {range}");
            assert_eq!(body.len(), len);
        }

        // A recording still in progress serves what is on disk.
        let (call2, id2, _) = c.recorded_call(&email_a, b"RIFF-partial", false).await;
        let (st, b) = c
            .call(
                "GET",
                &format!("/api/v1/calls/{call2}/recordings"),
                Some(&ro),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(b[0]["status"], "recording");
        assert!(b[0]["endedAt"].is_null());
        let dl2 = format!("/api/v1/recordings/{id2}/download");
        let (st, _, body) = c.raw("GET", &dl2, Some(&ro), &[]).await;
        assert_eq!(
            (st, body.as_slice()),
            (StatusCode::OK, &b"RIFF-partial"[..])
        );
        let (st, _, body) = c
            .raw("GET", &dl2, Some(&ro), &[("range", "bytes=-7")])
            .await;
        assert_eq!(
            (st, body.as_slice()),
            (StatusCode::PARTIAL_CONTENT, &b"partial"[..])
        );

        // Delete: 204, then 404 everywhere and the file is gone.
        let (st, _, body) = c.raw("DELETE", &one, Some(&rw), &[]).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "[{name}]");
        assert!(body.is_empty());
        assert!(!file.exists(), "[{name}] file removed");
        for (m, p) in [("GET", &one), ("GET", &dl), ("DELETE", &one)] {
            let (st, b) = c.call(m, p, Some(&rw), None).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "[{name}] {m} {p} after delete");
            assert_error(&b, "not_found");
        }
        let (st, b) = c.call("GET", &list, Some(&ro), None).await;
        assert_eq!((st, b), (StatusCode::OK, json!([])));

        // A row whose file vanished: download 404, delete still works.
        let (_, id3, rec3) = c.recorded_call(&email_a, b"x", true).await;
        std::fs::remove_file(&rec3).unwrap();
        let (st, b) = c
            .call(
                "GET",
                &format!("/api/v1/recordings/{id3}/download"),
                Some(&ro),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_error(&b, "not_found");
        let (st, _, _) = c
            .raw(
                "DELETE",
                &format!("/api/v1/recordings/{id3}"),
                Some(&rw),
                &[],
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);

        let _ = std::fs::remove_dir_all(&c.data);
        backend.finish().await;
    }
}

/// A mono 16-bit PCM WAV at `rate` Hz lasting `ms` milliseconds (a quiet square wave).
fn wav(rate: u32, ms: u32) -> Vec<u8> {
    let n = rate * ms / 1000;
    let data_len = n * 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n {
        let v: i16 = if (i / 20) % 2 == 0 { 1000 } else { -1000 };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

impl Ctx {
    /// `PUT` of a raw body with a content type; returns status and JSON body.
    async fn put_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder()
            .method("PUT")
            .uri(path)
            .header("content-type", content_type);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let resp = self
            .app
            .clone()
            .oneshot(b.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// The listing entry for `kind`.
fn entry<'a>(list: &'a Value, kind: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("{kind} missing from {list}"))
}

#[tokio::test]
async fn prompts_upload_list_download_reset_per_tenant() {
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let base = "/api/v1/media/prompts";
        let hold = format!("{base}/holdMusic");
        let hold_audio = format!("{hold}/audio");
        // Three tokens of one tenant (the same user) with different scopes.
        let email = format!("{}@p.example", uniq("w"));
        let writer = c.token(&email, &["widgets:read", "widgets:write"]).await;
        let reader = c.token(&email, &["widgets:read"]).await;
        let sip = c.token(&email, &["sip:read", "sip:write"]).await;
        let other = c
            .token(
                &format!("{}@p.example", uniq("o")),
                &["widgets:read", "widgets:write"],
            )
            .await;

        // 401 without a token, 403 without the scope, on every endpoint.
        for (m, p) in [
            ("GET", base.to_string()),
            ("GET", hold_audio.clone()),
            ("PUT", hold.clone()),
            ("DELETE", hold.clone()),
        ] {
            let (st, b) = c.call(m, &p, None, None).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "[{name}] {m} {p}");
            assert_error(&b, "unauthorized");
            let (st, b) = c.call(m, &p, Some(&sip), None).await;
            assert_eq!(
                st,
                StatusCode::FORBIDDEN,
                "[{name}] {m} {p} with sip scopes"
            );
            assert_error(&b, "forbidden");
        }
        let (st, b) = c
            .put_raw(&hold, Some(&reader), "audio/wav", wav(8000, 100))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "[{name}] PUT with widgets:read");
        assert_error(&b, "forbidden");
        let (st, b) = c.call("DELETE", &hold, Some(&reader), None).await;
        assert_eq!(
            st,
            StatusCode::FORBIDDEN,
            "[{name}] DELETE with widgets:read"
        );
        assert_error(&b, "forbidden");

        // Defaults first.
        let (st, list) = c.call("GET", base, Some(&writer), None).await;
        assert_eq!(st, StatusCode::OK, "[{name}] {list}");
        assert_eq!(list.as_array().unwrap().len(), 4, "[{name}] {list}");
        for (kind, asset) in [
            ("holdMusic", AssetKind::HoldMusic),
            ("unavailable", AssetKind::Unavailable),
            ("acceptPrompt", AssetKind::AcceptPrompt),
        ] {
            let e = entry(&list, kind);
            assert_eq!(e["source"], "default", "[{name}] {e}");
            assert_eq!(e["bytes"], asset.default_wav().len() as u64, "[{name}] {e}");
            assert!(e["durationMs"].as_u64().unwrap() > 0, "[{name}] {e}");
            assert_eq!(
                e["audioUrl"],
                format!("/api/v1/media/prompts/{kind}/audio"),
                "[{name}] {e}"
            );
        }
        let default_hold = entry(&list, "holdMusic").clone();
        let (st, _, body) = c.raw("GET", &hold_audio, Some(&reader), &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            body,
            AssetKind::HoldMusic.default_wav(),
            "[{name}] default audio"
        );

        // Upload: custom, with the file's duration and size.
        let up = wav(8000, 1500);
        let (st, b) = c
            .put_raw(&hold, Some(&writer), "audio/wav", up.clone())
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {b}");
        assert_eq!(b["kind"], "holdMusic");
        assert_eq!(b["source"], "custom");
        assert_eq!(b["durationMs"], 1500);
        assert_eq!(b["bytes"], up.len() as u64);
        let (_, list) = c.call("GET", base, Some(&reader), None).await;
        assert_eq!(entry(&list, "holdMusic"), &b, "[{name}] {list}");
        assert_eq!(entry(&list, "unavailable")["source"], "default");
        let (st, headers, body) = c.raw("GET", &hold_audio, Some(&reader), &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(headers["content-type"], "audio/wav");
        assert_eq!(body, up, "[{name}] uploaded audio served back");
        assert!(
            c.data.join("prompts").is_dir(),
            "[{name}] stored under the data dir"
        );

        // The other content types are accepted too.
        let (st, b) = c
            .put_raw(
                &format!("{base}/acceptPrompt"),
                Some(&writer),
                "audio/x-wav",
                wav(16000, 250),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {b}");
        assert_eq!(b["durationMs"], 250);
        let (st, b) = c
            .put_raw(
                &format!("{base}/unavailable"),
                Some(&writer),
                "application/octet-stream",
                wav(8000, 300),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "[{name}] {b}");

        // Garbage: 422 with the stable body, the previous upload kept.
        let (st, b) = c
            .put_raw(
                &hold,
                Some(&writer),
                "audio/wav",
                b"RIFF not really".to_vec(),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "[{name}] {b}");
        assert_error(&b, "invalid_audio");
        // Another content type: 415.
        let (st, b) = c
            .put_raw(&hold, Some(&writer), "application/json", up.clone())
            .await;
        assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE, "[{name}] {b}");
        assert_error(&b, "unsupported_media_type");
        // Over 10 MiB: 413.
        let (st, b) = c
            .put_raw(
                &hold,
                Some(&writer),
                "audio/wav",
                vec![0u8; 10 * 1024 * 1024 + 1],
            )
            .await;
        assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "[{name}] {b}");
        assert_error(&b, "payload_too_large");
        let (_, list) = c.call("GET", base, Some(&reader), None).await;
        assert_eq!(entry(&list, "holdMusic")["source"], "custom", "[{name}]");
        assert_eq!(entry(&list, "holdMusic")["durationMs"], 1500, "[{name}]");
        let (_, _, body) = c.raw("GET", &hold_audio, Some(&reader), &[]).await;
        assert_eq!(body, up, "[{name}] kept after rejected uploads");

        // Another tenant still has the defaults.
        let (_, list) = c.call("GET", base, Some(&other), None).await;
        assert_eq!(entry(&list, "holdMusic"), &default_hold, "[{name}] {list}");
        assert!(list
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["source"] == "default"));
        let (_, _, body) = c.raw("GET", &hold_audio, Some(&other), &[]).await;
        assert_eq!(
            body,
            AssetKind::HoldMusic.default_wav(),
            "[{name}] isolation"
        );
        let (st, b) = c.call("DELETE", &hold, Some(&other), None).await;
        assert_eq!(
            st,
            StatusCode::NOT_FOUND,
            "[{name}] other tenant has no upload"
        );
        assert_error(&b, "not_found");

        // Unknown kinds: 404.
        let (st, b) = c
            .call(
                "GET",
                &format!("{base}/doorbell/audio"),
                Some(&writer),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "[{name}]");
        assert_error(&b, "not_found");
        let (st, b) = c
            .put_raw(
                &format!("{base}/doorbell"),
                Some(&writer),
                "audio/wav",
                up.clone(),
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "[{name}]");
        assert_error(&b, "not_found");
        let (st, _) = c
            .call("DELETE", &format!("{base}/hold_music"), Some(&writer), None)
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "[{name}]");

        // Delete: back to the default; a second delete is 404.
        let (st, _, body) = c.raw("DELETE", &hold, Some(&writer), &[]).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "[{name}]");
        assert!(body.is_empty());
        let (_, list) = c.call("GET", base, Some(&writer), None).await;
        assert_eq!(entry(&list, "holdMusic"), &default_hold, "[{name}] {list}");
        assert_eq!(entry(&list, "acceptPrompt")["source"], "custom");
        let (_, _, body) = c.raw("GET", &hold_audio, Some(&writer), &[]).await;
        assert_eq!(body, AssetKind::HoldMusic.default_wav(), "[{name}] reset");
        let (st, b) = c.call("DELETE", &hold, Some(&writer), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "[{name}]");
        assert_error(&b, "not_found");

        let _ = std::fs::remove_dir_all(&c.data);
        backend.finish().await;
    }
}

/// Call recordings as MCP resources: listed for the latest calls, read as WAV (base64) by the
/// tenant with calls:read; refused to another tenant and without the scope; the recordings
/// tool links them.
#[tokio::test]
async fn recordings_are_mcp_resources() {
    use base64::Engine;
    for backend in backends().await {
        let (name, store) = (backend.name, backend.store.clone());
        let c = ctx(store);
        let email = format!("{}@mcp-rec.example", uniq("r"));
        let wav = b"RIFF\x24\x00\x00\x00WAVEfmt fake audio bytes".to_vec();
        let (call_id, rec_id, _) = c.recorded_call(&email, &wav, true).await;
        let token = c.token(&email, &["mcp:read", "calls:read"]).await;
        let stranger = c
            .token(
                &format!("{}@mcp-rec.example", uniq("s")),
                &["mcp:read", "calls:read"],
            )
            .await;
        let no_calls = c.token(&email, &["mcp:read"]).await;
        let rpc = |token: &str, method: &str, params: Value| {
            let auth = format!("Bearer {token}");
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
            let c = &c;
            async move {
                c.send(
                    "POST",
                    "/mcp",
                    &[("authorization", &auth)],
                    Some(&body.to_string()),
                )
                .await
                .body
            }
        };
        let r = rpc(
            &token,
            "initialize",
            json!({"protocolVersion": "2025-11-25"}),
        )
        .await;
        assert!(r["result"]["capabilities"]["resources"].is_object(), "{r}");
        let r = rpc(&token, "resources/templates/list", json!({})).await;
        assert_eq!(
            r["result"]["resourceTemplates"][0]["uriTemplate"],
            "ringside://recordings/{recordingId}"
        );
        let uri = format!("ringside://recordings/{rec_id}");
        let r = rpc(&token, "resources/list", json!({})).await;
        let listed = r["result"]["resources"].as_array().unwrap();
        assert!(
            listed
                .iter()
                .any(|x| x["uri"] == uri.as_str() && x["mimeType"] == "audio/wav"),
            "[{name}] {r}"
        );
        let r = rpc(&token, "resources/read", json!({"uri": uri})).await;
        let content = &r["result"]["contents"][0];
        assert_eq!(content["mimeType"], "audio/wav", "[{name}] {r}");
        let got = base64::engine::general_purpose::STANDARD
            .decode(content["blob"].as_str().unwrap())
            .unwrap();
        assert_eq!(got, wav, "[{name}] the file's bytes");
        // Stateless: caching directives.
        let r = rpc(
            &token,
            "resources/read",
            json!({"uri": uri, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {}}}),
        )
        .await;
        assert_eq!(r["result"]["cacheScope"], "private", "{r}");
        // Another tenant, another scope, a bad URI.
        let r = rpc(&stranger, "resources/read", json!({"uri": uri})).await;
        assert_eq!(r["error"]["code"], -32002, "[{name}] {r}");
        let r = rpc(&stranger, "resources/list", json!({})).await;
        assert!(!r.to_string().contains(&rec_id), "[{name}] {r}");
        let r = rpc(&no_calls, "resources/read", json!({"uri": uri})).await;
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("calls:read"),
            "[{name}] {r}"
        );
        for bad in [
            json!({}),
            json!({"uri": "file:///etc/passwd"}),
            json!({"uri": "ringside://recordings/../x"}),
        ] {
            let r = rpc(&token, "resources/read", bad.clone()).await;
            assert_eq!(r["error"]["code"], -32602, "[{name}] {bad}: {r}");
        }
        // The recordings tool links each as a resource.
        let r = rpc(
            &token,
            "tools/call",
            json!({"name": "ringside_get_call_recordings", "arguments": {"callId": call_id}}),
        )
        .await;
        assert!(r.to_string().contains(&uri), "[{name}] {r}");
        backend.finish().await;
    }
}

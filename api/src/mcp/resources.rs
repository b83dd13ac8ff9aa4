//! Call recordings as MCP resources: `ringside://recordings/{recordingId}`, listed for the
//! latest calls and read as WAV audio (base64 `blob`), through the same `/api/v1` handlers
//! as the tools (`calls:read`, the caller's tenant).

use base64::Engine;
use serde_json::{json, Value};

use super::rpc::{self, code};
use super::tools::{rest, rest_bytes, segment};
use super::Ctx;

/// The URI of a recording, up to its id.
const PREFIX: &str = "ringside://recordings/";

/// The resource URI of recording `id`.
pub(super) fn uri(id: &str) -> String {
    format!("{PREFIX}{id}")
}
/// Recordings of this many latest calls are listed.
const LISTED_CALLS: u32 = 20;
/// Largest recording read inline (base64 makes it a third larger); a longer one answers its
/// download URL instead.
const MAX_INLINE: usize = 16 << 20;
/// Resource not found (the code MCP uses for it).
const NOT_FOUND: i64 = -32002;

/// `resources/templates/list`.
pub(super) fn templates() -> Value {
    json!({"resourceTemplates": [{
        "uriTemplate": format!("{PREFIX}{{recordingId}}"),
        "name": "call-recording",
        "title": "Call recording",
        "description": "A call's recording as a stereo WAV (caller left, callee right); \
                        recording ids come from ringside_get_call_recordings.",
        "mimeType": "audio/wav",
    }]})
}

fn refusal(id: &Value, status: axum::http::StatusCode, body: &Value) -> Value {
    let msg = body["error"]["message"].as_str().unwrap_or("refused");
    if status == axum::http::StatusCode::FORBIDDEN {
        rpc::error(
            Some(id),
            code::INVALID_REQUEST,
            &format!("{msg}: reading recordings needs the calls:read scope (and mcp:read)"),
            None,
        )
    } else {
        rpc::error(
            Some(id),
            code::INTERNAL,
            &format!("Ringside failed: {msg}"),
            None,
        )
    }
}

/// One listed recording.
fn entry(rec: &Value, call: &Value) -> Option<Value> {
    let id = rec["id"].as_str()?;
    Some(json!({
        "uri": uri(id),
        "name": format!("recording-{id}.wav"),
        "title": format!(
            "Call {} → {} ({} s)",
            call["from"].as_str().unwrap_or("?"),
            call["to"].as_str().unwrap_or("?"),
            rec["durationMs"].as_i64().unwrap_or(0) / 1000
        ),
        "mimeType": "audio/wav",
        "size": rec["bytes"],
    }))
}

/// `resources/list`: the recordings of the latest calls.
pub(super) async fn list(ctx: &Ctx<'_>, id: &Value) -> Result<Value, Value> {
    let api = &ctx.mcp.api;
    let uri = format!("/api/v1/calls?limit={LISTED_CALLS}");
    let (status, calls) = rest(api, ctx.who, "GET", &uri, None).await;
    if status == axum::http::StatusCode::FORBIDDEN {
        // Without calls:read there are no recordings to list (the live resources still are).
        return Ok(json!({ "resources": [] }));
    }
    if !status.is_success() {
        return Err(refusal(id, status, &calls));
    }
    let mut out = Vec::new();
    for call in calls.as_array().into_iter().flatten() {
        let Some(call_id) = call["id"].as_str() else {
            continue;
        };
        let uri = format!("/api/v1/calls/{}/recordings", segment(call_id));
        let (status, recs) = rest(api, ctx.who, "GET", &uri, None).await;
        if !status.is_success() {
            continue;
        }
        out.extend(
            recs.as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["status"] == "complete")
                .filter_map(|r| entry(r, call)),
        );
    }
    Ok(json!({ "resources": out }))
}

/// `resources/read` of `uri`.
pub(super) async fn read(ctx: &Ctx<'_>, id: &Value, uri: Option<&str>) -> Result<Value, Value> {
    let Some(uri) = uri else {
        return Err(rpc::error(
            Some(id),
            code::INVALID_PARAMS,
            "Invalid params: uri is required",
            None,
        ));
    };
    let Some(rec_id) = uri
        .strip_prefix(PREFIX)
        .filter(|r| crate::conversations::plain_id(r))
    else {
        return Err(rpc::error(
            Some(id),
            code::INVALID_PARAMS,
            &format!(
                "Invalid params: uri must be {PREFIX}{{recordingId}}, ringside://visitors/live, \
                 ringside://conversations (or ringside://conversations/{{widgetId}}/{{visitorId}}) \
                 or ringside://calls/waiting"
            ),
            Some(json!({"uri": uri})),
        ));
    };
    let api = &ctx.mcp.api;
    let meta_uri = format!("/api/v1/recordings/{}", segment(rec_id));
    let (status, meta) = rest(api, ctx.who, "GET", &meta_uri, None).await;
    if status == axum::http::StatusCode::NOT_FOUND {
        return Err(rpc::error(
            Some(id),
            NOT_FOUND,
            "Resource not found for this account; call ringside_get_call_recordings for ids",
            Some(json!({"uri": uri})),
        ));
    }
    if !status.is_success() {
        return Err(refusal(id, status, &meta));
    }
    let download = format!(
        "{}/api/v1/recordings/{}/download",
        ctx.mcp.st.public_url.trim_end_matches('/'),
        segment(rec_id)
    );
    let big = meta["bytes"]
        .as_u64()
        .is_some_and(|b| b > MAX_INLINE as u64);
    if big || meta["status"] != "complete" {
        let why = if big {
            "too large to send inline"
        } else {
            "still being recorded"
        };
        return Ok(json!({"contents": [{
            "uri": uri,
            "mimeType": "text/plain",
            "text": format!("The recording is {why}: download it from {download} with the same bearer token."),
        }]}));
    }
    let (status, wav) = rest_bytes(
        api,
        ctx.who,
        "GET",
        &format!("{meta_uri}/download"),
        None,
        MAX_INLINE,
    )
    .await;
    if !status.is_success() || wav.is_empty() {
        return Err(rpc::error(
            Some(id),
            code::INTERNAL,
            "Ringside could not read the recording's file; try again",
            None,
        ));
    }
    Ok(json!({"contents": [{
        "uri": uri,
        "mimeType": "audio/wav",
        "blob": base64::engine::general_purpose::STANDARD.encode(&wav),
    }]}))
}

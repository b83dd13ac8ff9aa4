//! Callback requests and leads with voice notes from the widget (`POST
//! /api/widgets/{widgetId}/callbacks`): JSON, or multipart with an `audio/*` voice note of at
//! most [`MAX_VOICE_NOTE`] bytes written under the data directory.

use super::*;

/// A voice note received but not yet stored.
struct Upload {
    content_type: String,
    ext: &'static str,
    data: Vec<u8>,
}

/// `audio/<subtype>` (parameters dropped, lowercase) and a file extension; None otherwise.
fn audio_type(ct: &str) -> Option<(String, &'static str)> {
    let base = ct.split(';').next()?.trim().to_ascii_lowercase();
    let sub = base.strip_prefix("audio/")?;
    if sub.is_empty()
        || sub.len() > 64
        || !sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+-".contains(&b))
    {
        return None;
    }
    let ext = match sub {
        "webm" => "webm",
        "ogg" | "opus" => "ogg",
        "mpeg" | "mp3" => "mp3",
        "wav" | "x-wav" | "wave" => "wav",
        "mp4" | "m4a" | "x-m4a" | "aac" => "m4a",
        _ => "bin",
    };
    Some((base, ext))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: MAX_VOICE_NOTE as u64,
        }
    } else {
        ApiError::InvalidBody(e.body_text())
    }
}

/// Reads a multipart callback: text fields, and the `voiceNote` file.
async fn read_multipart(
    mut mp: Multipart,
) -> Result<(Map<String, Value>, Option<Upload>), ApiError> {
    let mut fields = Map::new();
    let mut upload = None;
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "voiceNote" {
            let (content_type, ext) =
                field
                    .content_type()
                    .and_then(audio_type)
                    .ok_or(ApiError::UnsupportedMediaType(
                        "voiceNote must be an audio/* file",
                    ))?;
            let mut data = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                if data.len() + chunk.len() > MAX_VOICE_NOTE {
                    return Err(ApiError::PayloadTooLarge {
                        limit: MAX_VOICE_NOTE as u64,
                    });
                }
                data.extend_from_slice(&chunk);
            }
            if data.is_empty() {
                return Err(bad("voiceNote", "must not be empty"));
            }
            upload = Some(Upload {
                content_type,
                ext,
                data,
            });
        } else if !name.is_empty() && fields.len() < 32 {
            let text = field.text().await.map_err(multipart_error)?;
            if text.len() > MAX_PUBLIC_BODY {
                return Err(ApiError::PayloadTooLarge {
                    limit: MAX_PUBLIC_BODY as u64,
                });
            }
            fields.insert(name, Value::String(text));
        }
    }
    Ok((fields, upload))
}

/// Writes a voice note under `<data_dir>/voice-notes/<tenant>/<uuid>.<ext>`; returns the
/// path relative to the data directory.
async fn save_upload(st: &MessagesState, tenant_id: &str, u: &Upload) -> Result<String, ApiError> {
    let rel = format!(
        "{VOICE_NOTE_DIR}/{}/{}.{}",
        tenant_id,
        ringside_storage::new_id(),
        u.ext
    );
    write_data_file(st, &rel, &u.data).await?;
    Ok(rel)
}

/// Whether a stored relative path is one this module wrote (no traversal).
pub(super) fn safe_rel_path(rel: &str) -> bool {
    rel.starts_with("voice-notes/")
        && rel.split('/').all(|seg| {
            !seg.is_empty()
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

pub(super) async fn submit_callback(
    State(st): State<MessagesState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let (w, allow) = match page_widget(&st, &widget_id, &q, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        let is_multipart = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        let (body, upload) = if is_multipart {
            let mp = Multipart::from_request(req, &st)
                .await
                .map_err(|e| ApiError::InvalidBody(e.body_text()))?;
            read_multipart(mp).await?
        } else {
            let body: Map<String, Value> = read_json(req.into_body()).await?;
            (body, None)
        };
        let mut fields = Map::new();
        for (k, v) in &body {
            if !(v.is_string() || v.is_number() || v.is_boolean()) {
                return Err(bad("fields", "fields must be strings, numbers or booleans"));
            }
            fields.insert(k.clone(), v.clone());
        }
        let phone = opt_str(&body, "phone").or_else(|| opt_str(&body, "mobile"));
        let email = opt_str(&body, "email");
        if phone.is_none() && email.is_none() {
            return Err(bad("phone", "a phone number or an email is required"));
        }
        let visitor = opt_str(&body, "visitorId").or_else(|| opt_str(&body, "sessionId"));
        if let Some(v) = &visitor {
            client_id(v, "visitorId")?;
        }
        let message = opt_str(&body, "message");
        if let Some(m) = &message {
            message_body(m, "message")?;
        }
        let voice_note = match &upload {
            Some(u) => Some(ringside_storage::VoiceNote {
                path: save_upload(&st, &w.tenant_id, u).await?,
                content_type: u.content_type.clone(),
                bytes: u.data.len() as i64,
            }),
            None => None,
        };
        let saved_path = voice_note.as_ref().map(|v| v.path.clone());
        let stored = store_callback(
            &st,
            &w,
            NewCallback {
                visitor_id: visitor,
                kind: "callback".into(),
                name: opt_str(&body, "name"),
                email,
                phone,
                message,
                fields,
                voice_note,
            },
        )
        .await;
        let c = match stored {
            Ok(c) => c,
            Err(e) => {
                if let Some(p) = saved_path {
                    let _ = tokio::fs::remove_file(st.data_dir.join(p)).await;
                }
                return Err(e);
            }
        };
        let out = CallbackStored {
            success: true,
            callback: callback_json(&st, &c),
        };
        Ok((StatusCode::CREATED, Json(out)).into_response())
    }
    .await;
    respond(result, allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_types_and_paths() {
        assert_eq!(
            audio_type("audio/webm;codecs=opus"),
            Some(("audio/webm".into(), "webm"))
        );
        assert_eq!(audio_type("Audio/MPEG"), Some(("audio/mpeg".into(), "mp3")));
        assert!(audio_type("text/plain").is_none());
        assert!(audio_type("audio/").is_none());
        assert!(audio_type("audio/x y").is_none());
        assert!(safe_rel_path("voice-notes/t-1/abc.webm"));
        assert!(!safe_rel_path("voice-notes/../etc/passwd"));
        assert!(!safe_rel_path("/etc/passwd"));
    }
}

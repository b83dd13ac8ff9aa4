//! Files in chats, both ways: a visitor attaches one from the widget (`POST
//! /api/widgets/{widgetId}/attachments`, widget key and origin checked, multipart `file` and
//! `visitorId`), an operator from the dashboard (`POST
//! /api/v1/widgets/{id}/visitors/{visitorId}/attachments`, `messages:write`). Each is announced
//! in the chat by a message naming it.
//!
//! Only a few safe types are taken, recognised by the file's extension and declared type
//! (images, PDF, plain text and CSV, office documents), at most [`MAX_ATTACHMENT`] bytes; the
//! name is cut to its last path segment without control or quote characters. Files are
//! written under `<data_dir>/attachments/<tenant>/<uuid>.<ext>` and always served as
//! downloads — `Content-Disposition: attachment`, the allow-listed type, `nosniff`, and a CSP
//! that runs nothing — by `GET /api/v1/widgets/{id}/attachments/{attachmentId}`
//! (`messages:read`) and to the visitor whose chat it is by `GET
//! /api/widgets/{widgetId}/attachments/{attachmentId}?visitorId=`.

use super::*;
use ringside_storage::{Attachment, NewAttachment};

/// Largest attachment, in bytes (10 MiB).
pub const MAX_ATTACHMENT: usize = 10 * 1024 * 1024;
/// Largest multipart body of an upload.
pub(crate) const MAX_ATTACHMENT_BODY: usize = MAX_ATTACHMENT + 64 * 1024;
/// Subdirectory of the data directory holding attachments.
const ATTACHMENT_DIR: &str = "attachments";

/// The types taken: extension, the type files are served with, and the declared types
/// accepted for it (besides `application/octet-stream`, which browsers send for unknowns).
const TYPES: &[(&str, &str, &[&str])] = &[
    ("png", "image/png", &["image/png"]),
    (
        "jpg",
        "image/jpeg",
        &["image/jpeg", "image/jpg", "image/pjpeg"],
    ),
    (
        "jpeg",
        "image/jpeg",
        &["image/jpeg", "image/jpg", "image/pjpeg"],
    ),
    ("gif", "image/gif", &["image/gif"]),
    ("webp", "image/webp", &["image/webp"]),
    ("pdf", "application/pdf", &["application/pdf"]),
    ("txt", "text/plain; charset=utf-8", &["text/plain"]),
    (
        "csv",
        "text/csv; charset=utf-8",
        &["text/csv", "text/plain", "application/vnd.ms-excel"],
    ),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &["application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"],
    ),
    (
        "odt",
        "application/vnd.oasis.opendocument.text",
        &["application/vnd.oasis.opendocument.text"],
    ),
    (
        "ods",
        "application/vnd.oasis.opendocument.spreadsheet",
        &["application/vnd.oasis.opendocument.spreadsheet"],
    ),
];

/// The name a file is shown and downloaded under: its last path segment, without control
/// characters, quotes or backslashes, at most 120 characters; `file` when nothing is left.
pub(crate) fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | '\\' | ';'))
        .take(120)
        .collect();
    let name = name.trim().trim_start_matches('.').to_owned();
    if name.is_empty() {
        "file".into()
    } else {
        name
    }
}

/// (extension, served type) for a file named `name` declared as `declared`; None when the
/// type is not one Ringside takes.
pub(crate) fn allowed_type(
    name: &str,
    declared: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    let (e, served, ok) = TYPES.iter().find(|(e, _, _)| *e == ext)?;
    let declared = declared
        .map(|d| {
            d.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let fits = declared.is_empty()
        || declared == "application/octet-stream"
        || ok.iter().any(|t| *t == declared);
    fits.then_some((*e, *served))
}

fn upload_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: MAX_ATTACHMENT as u64,
        }
    } else {
        ApiError::InvalidBody(e.body_text())
    }
}

/// A file received: its name, served type, extension and bytes.
struct Received {
    name: String,
    content_type: &'static str,
    ext: &'static str,
    data: Vec<u8>,
}

/// Reads the multipart body: the `file` part and the text fields (`visitorId`).
async fn read_upload(mut mp: Multipart) -> Result<(Received, Map<String, Value>), ApiError> {
    let mut file = None;
    let mut fields = Map::new();
    while let Some(mut field) = mp.next_field().await.map_err(upload_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let shown = clean_name(field.file_name().unwrap_or("file"));
            let (ext, content_type) = allowed_type(&shown, field.content_type()).ok_or(
                ApiError::UnsupportedMediaType(
                    "file: images (png, jpg, gif, webp), pdf, txt, csv, docx, xlsx, odt or ods",
                ),
            )?;
            let mut data = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(upload_error)? {
                if data.len() + chunk.len() > MAX_ATTACHMENT {
                    return Err(ApiError::PayloadTooLarge {
                        limit: MAX_ATTACHMENT as u64,
                    });
                }
                data.extend_from_slice(&chunk);
            }
            if data.is_empty() {
                return Err(bad("file", "must not be empty"));
            }
            file = Some(Received {
                name: shown,
                content_type,
                ext,
                data,
            });
        } else if !name.is_empty() && fields.len() < 8 {
            let text = field.text().await.map_err(upload_error)?;
            if text.len() > 4096 {
                return Err(bad("fields", "too long"));
            }
            fields.insert(name, Value::String(text));
        }
    }
    let file = file.ok_or(bad("file", "a file part is required"))?;
    Ok((file, fields))
}

/// Whether a stored relative path is one this module wrote (no traversal).
fn safe_attachment_path(rel: &str) -> bool {
    rel.starts_with("attachments/")
        && rel
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains('\\'))
}

/// Writes the file, records it, and announces it in the visitor's chat.
async fn store_attachment(
    st: &MessagesState,
    w: &Widget,
    visitor_id: String,
    sender: &str,
    author: Option<String>,
    f: Received,
) -> Result<(Attachment, Message), ApiError> {
    crate::usage::enforce(&st.usage, &w.tenant_id, Metric::MonthlyMessages).await?;
    let rel = format!(
        "{ATTACHMENT_DIR}/{}/{}.{}",
        w.tenant_id,
        ringside_storage::new_id(),
        f.ext
    );
    write_data_file(st, &rel, &f.data).await?;
    let a = st
        .store
        .add_attachment(
            &w.tenant_id,
            &w.id,
            NewAttachment {
                visitor_id: visitor_id.clone(),
                sender: sender.into(),
                file_name: f.name.clone(),
                content_type: f.content_type.into(),
                bytes: i64::try_from(f.data.len()).unwrap_or(i64::MAX),
                path: rel,
            },
        )
        .await?;
    let kb = f.data.len().div_ceil(1024);
    let m = store_message_with(
        st,
        w,
        NewMessage {
            visitor_id,
            conversation_id: String::new(),
            sender: sender.into(),
            author_user_id: author,
            body: format!("\u{1F4CE} {} ({kb} KB)", f.name),
        },
        Some(&a),
    )
    .await?;
    Ok((
        Attachment {
            message_id: Some(m.id.clone()),
            ..a
        },
        m,
    ))
}

/// A file sent in a chat, with where to download it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    /// Its id.
    id: String,
    /// The file's name as shown.
    file_name: String,
    /// The type it is served with.
    #[schemars(example = &"application/pdf")]
    content_type: String,
    /// Size in bytes.
    bytes: i64,
    /// The chat message that announced it.
    message_id: Option<String>,
    /// `visitor` or `operator`.
    #[schemars(extend("enum" = ["visitor", "operator"]))]
    sender: String,
    /// Unix ms.
    created_at: i64,
    /// Where to download it (the same credentials).
    url: String,
}

fn attachment_json(a: &Attachment, url: String) -> AttachmentView {
    AttachmentView {
        id: a.id.clone(),
        file_name: a.file_name.clone(),
        content_type: a.content_type.clone(),
        bytes: a.bytes,
        message_id: a.message_id.clone(),
        sender: a.sender.clone(),
        created_at: a.created_at,
        url,
    }
}

/// `POST /api/widgets/{widget_id}/attachments`: a visitor's file.
pub(super) async fn visitor_upload(
    State(st): State<MessagesState>,
    Path(widget_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let (w, allow) = match page_widget(&st, &widget_id, &q, req.headers()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        let mp = Multipart::from_request(req, &())
            .await
            .map_err(|_| ApiError::UnsupportedMediaType("multipart/form-data with a file part"))?;
        let (f, fields) = read_upload(mp).await?;
        let visitor = fields
            .get("visitorId")
            .and_then(Value::as_str)
            .or(q.get("visitorId").map(String::as_str))
            .filter(|v| crate::widget_runtime::valid_client_id(v))
            .ok_or(bad("visitorId", "the page's visitor id"))?
            .to_owned();
        let (a, _) = store_attachment(&st, &w, visitor.clone(), "visitor", None, f).await?;
        let url = format!(
            "/api/widgets/{}/attachments/{}?visitorId={}",
            w.id, a.id, visitor
        );
        Ok((StatusCode::CREATED, Json(attachment_json(&a, url))).into_response())
    }
    .await;
    respond(result, allow)
}

/// `POST /api/v1/widgets/{id}/visitors/{visitor_id}/attachments`: an operator's file.
pub(super) async fn operator_upload(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesWrite>,
    Path((id, visitor_id)): Path<(String, String)>,
    mp: Multipart,
) -> Result<(StatusCode, Json<AttachmentView>), ApiError> {
    if !crate::widget_runtime::valid_client_id(&visitor_id) {
        return Err(bad("visitorId", "6-128 letters, digits, _ - . :"));
    }
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let (f, _) = read_upload(mp).await?;
    let (a, _) = store_attachment(
        &st,
        &w,
        visitor_id,
        "operator",
        Some(auth.user_id.clone()),
        f,
    )
    .await?;
    let url = format!("/api/v1/widgets/{}/attachments/{}", w.id, a.id);
    Ok((StatusCode::CREATED, Json(attachment_json(&a, url))))
}

/// The file as a download that nothing renders or runs.
async fn download(st: &MessagesState, a: &Attachment) -> Result<Response, ApiError> {
    if !safe_attachment_path(&a.path) {
        return Err(ApiError::NotFound);
    }
    let file = tokio::fs::File::open(st.data_dir.join(&a.path))
        .await
        .map_err(|_| ApiError::NotFound)?;
    let len = file.metadata().await.map_err(|_| ApiError::Internal)?.len();
    let mut resp = axum::body::Body::from_stream(tokio_util_stream(file)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&a.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let ascii: String = a
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(a.file_name.as_bytes()).collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encoded.replace('+', "%20")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

/// `GET /api/v1/widgets/{id}/attachments/{attachment_id}`.
pub(super) async fn operator_download(
    State(st): State<MessagesState>,
    Scoped(auth, _): Scoped<MessagesRead>,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !crate::conversations::plain_id(&attachment_id) {
        return Err(ApiError::NotFound);
    }
    let w = st.store.get_widget(&auth.tenant_id, &id).await?;
    let a = st
        .store
        .get_attachment(&w.tenant_id, &w.id, &attachment_id, None)
        .await?;
    download(&st, &a).await
}

/// `GET /api/widgets/{widget_id}/attachments/{attachment_id}?visitorId=`: the visitor's own.
pub(super) async fn visitor_download(
    State(st): State<MessagesState>,
    Path((widget_id, attachment_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (w, allow) = match page_widget(&st, &widget_id, &q, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = async {
        let visitor = q
            .get("visitorId")
            .filter(|v| crate::widget_runtime::valid_client_id(v))
            .ok_or(bad("visitorId", "the page's visitor id"))?;
        if !crate::conversations::plain_id(&attachment_id) {
            return Err(ApiError::NotFound);
        }
        let a = st
            .store
            .get_attachment(&w.tenant_id, &w.id, &attachment_id, Some(visitor))
            .await?;
        download(&st, &a).await
    }
    .await;
    respond(result, allow)
}

/// A visitor's chat's attachments by the message that announced them, for the history.
pub(super) async fn by_message(
    st: &MessagesState,
    w: &Widget,
    visitor: &str,
) -> Result<HashMap<String, Attachment>, ApiError> {
    Ok(st
        .store
        .list_attachments(&w.tenant_id, &w.id, visitor)
        .await?
        .into_iter()
        .filter_map(|a| a.message_id.clone().map(|m| (m, a)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_are_cut_to_what_is_safe() {
        assert_eq!(clean_name("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\"b';c\n.png"), "abc.png");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(
            allowed_type("x.PNG", Some("image/png")),
            Some(("png", "image/png"))
        );
        assert_eq!(
            allowed_type("x.pdf", Some("application/octet-stream")),
            Some(("pdf", "application/pdf"))
        );
        // A page, a script, a disguised type: refused.
        assert_eq!(allowed_type("x.html", Some("text/html")), None);
        assert_eq!(allowed_type("x.svg", Some("image/svg+xml")), None);
        assert_eq!(allowed_type("x.js", None), None);
        assert_eq!(allowed_type("x.png", Some("text/html")), None);
        assert_eq!(allowed_type("noext", Some("image/png")), None);
        assert!(safe_attachment_path("attachments/t/x.png"));
        assert!(!safe_attachment_path("attachments/../x"));
        assert!(!safe_attachment_path("voice-notes/t/x.webm"));
    }
}

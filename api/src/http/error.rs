//! The one error type of the HTTP layer and its stable JSON body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ringside_storage::StorageError;
use serde_json::json;

/// Every way an API request can fail, mapped to a status and a stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token or session, or an unknown or revoked one (401 `unauthorized`).
    #[error("a valid bearer token or session is required")]
    Unauthorized,
    /// The endpoint is for a person signed in to the dashboard, and the request has no live
    /// session cookie (401 `unauthorized`).
    #[error("sign in first: this needs a dashboard session")]
    SignInRequired,
    /// A cookie-authenticated request that changes state lacks the session's CSRF token in
    /// `X-CSRF-Token` (403 `csrf_failed`).
    #[error("missing or wrong X-CSRF-Token for this session")]
    CsrfFailed,
    /// The user's role does not allow this (403 `forbidden`); the text says who may.
    #[error("only {0} may do this")]
    RoleForbidden(&'static str),
    /// A scope the user's role may not hold was asked for (403 `forbidden`).
    #[error("your role may not grant the scope {0}")]
    ScopeNotAllowed(String),
    /// A sign-in code was wrong, used, replaced or expired (422 `invalid_code`); nothing was
    /// created.
    #[error("{0}")]
    InvalidCode(String),
    /// The token lacks the scope the endpoint needs (403 `forbidden`).
    #[error("this token lacks the scope {0}")]
    MissingScope(&'static str),
    /// The page's origin is not among the widget's allowed domains (403 `origin_not_allowed`).
    #[error("this origin is not allowed for the widget")]
    OriginNotAllowed,
    /// The object does not exist or belongs to another tenant (404 `not_found`).
    #[error("not found")]
    NotFound,
    /// The body could not be parsed as JSON of the expected shape (400 `invalid_body`).
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// A field failed validation (422 `invalid_field`).
    #[error("{field}: {reason}")]
    InvalidField {
        /// The JSON field name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A unique value is already taken (409 `conflict`).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The object is in a state that does not allow the request (409 `conflict`); the text
    /// says why.
    #[error("{0}")]
    ConflictState(&'static str),
    /// The requested byte range lies outside the file of `len` bytes (416
    /// `range_not_satisfiable`, with `Content-Range: bytes */len`).
    #[error("range not satisfiable: the file has {len} bytes")]
    RangeNotSatisfiable {
        /// Size of the file, in bytes.
        len: u64,
    },
    /// The request body is larger than the endpoint accepts (413 `payload_too_large`).
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The request body has a content type the endpoint does not take (415
    /// `unsupported_media_type`).
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// An uploaded audio file is unusable: malformed, unsupported or too long (422
    /// `invalid_audio`).
    #[error("invalid audio: {0}")]
    InvalidAudio(String),
    /// Too many requests from this client or for this widget (429 `rate_limited`, with
    /// `Retry-After`).
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests {
        /// Whole seconds until a retry may succeed (at least 1).
        retry_after_secs: u64,
    },
    /// The tenant is at a configured usage limit (429 `usage_limit_exceeded`, with
    /// `Retry-After` until the period ends for monthly limits).
    #[error("usage limit reached: {metric} is limited to {limit}")]
    UsageLimitExceeded {
        /// The limited metric (`widgets`, `monthlyMessages`, ...).
        metric: &'static str,
        /// The limit.
        limit: u64,
        /// Seconds until a monthly limit resets.
        retry_after_secs: Option<u64>,
    },
    /// The database cannot be reached right now (503 `unavailable`, with `Retry-After`);
    /// nothing was changed.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    /// Something failed inside; details go to the log, not the client (500 `internal`).
    #[error("internal error")]
    Internal,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized | ApiError::SignInRequired => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            ApiError::CsrfFailed => (StatusCode::FORBIDDEN, "csrf_failed"),
            ApiError::RoleForbidden(_) | ApiError::ScopeNotAllowed(_) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            ApiError::InvalidCode(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_code"),
            ApiError::MissingScope(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::OriginNotAllowed => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            ApiError::InvalidField { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::Conflict(_) | ApiError::ConflictState(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            ApiError::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::InvalidAudio(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_audio"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::UsageLimitExceeded { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "usage_limit_exceeded")
            }
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::NotFound,
            StorageError::Conflict(what) => ApiError::Conflict(what),
            StorageError::Invalid(what) => ApiError::InvalidField {
                field: what,
                reason: "invalid value",
            },
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let content_range = match &self {
            ApiError::RangeNotSatisfiable { len } => {
                axum::http::HeaderValue::from_str(&format!("bytes */{len}")).ok()
            }
            _ => None,
        };
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after_secs } => {
                Some(axum::http::HeaderValue::from((*retry_after_secs).max(1)))
            }
            ApiError::UsageLimitExceeded {
                retry_after_secs: Some(s),
                ..
            } => Some(axum::http::HeaderValue::from((*s).max(1))),
            ApiError::Unavailable => Some(axum::http::HeaderValue::from(1u64)),
            _ => None,
        };
        let mut resp = (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(v) = retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        if let Some(v) = content_range {
            resp.headers_mut()
                .insert(axum::http::header::CONTENT_RANGE, v);
        }
        resp
    }
}

/// The largest plain-text rejection body carried over into a JSON error message.
const REJECTION_TEXT_MAX: usize = 512;

/// Middleware: axum's own rejections (a query string or path parameter that does not parse,
/// a request that is not a WebSocket upgrade, a method the path does not take) answer in
/// plain text or with no body at all; they get the API's JSON error body instead, with a
/// stable code for their status and the original text as the message. Answers that already
/// carry a body of another type (JSON errors, HTML pages) pass untouched.
pub async fn json_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let plain = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|t| t.as_bytes().starts_with(b"text/plain"));
    if !plain {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, REJECTION_TEXT_MAX * 4).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let mut message: String = text.trim().chars().take(REJECTION_TEXT_MAX).collect();
    if message.is_empty() {
        message = status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_ascii_lowercase();
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_field",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let body = json!({"error": {"code": code, "message": message}}).to_string();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}

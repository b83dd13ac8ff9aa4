//! Request extractors whose rejections use the API's JSON error body.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// `axum::Json` with rejections mapped to [`ApiError::InvalidBody`].
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(ApiError::InvalidBody(match e {
                JsonRejection::JsonDataError(e) => e.body_text(),
                JsonRejection::JsonSyntaxError(_) => "malformed JSON".into(),
                JsonRejection::MissingJsonContentType(_) => {
                    "expected Content-Type: application/json".into()
                }
                other => other.body_text(),
            })),
        }
    }
}

/// For `Option<Option<T>>` PATCH fields: absent is `None` (with `#[serde(default)]`), `null`
/// is `Some(None)` (clear), a value is `Some(Some(v))`.
pub(crate) fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Escapes text for HTML element content and quoted attributes.
pub(crate) fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `?limit=` within `1..=max` (`default` when absent); 422 `invalid_field` otherwise.
pub(crate) fn query_limit(
    q: &std::collections::HashMap<String, String>,
    default: u32,
    max: u32,
) -> Result<u32, crate::ApiError> {
    match q.get("limit") {
        None => Ok(default),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(crate::ApiError::InvalidField {
                field: "limit",
                reason: "out of range",
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_limits() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let q = |v: &str| [("limit".to_owned(), v.to_owned())].into_iter().collect();
        assert_eq!(query_limit(&Default::default(), 80, 500).unwrap(), 80);
        assert_eq!(query_limit(&q("500"), 80, 500).unwrap(), 500);
        for bad in ["0", "501", "x", "-1"] {
            assert!(query_limit(&q(bad), 80, 500).is_err(), "{bad}");
        }
    }
}

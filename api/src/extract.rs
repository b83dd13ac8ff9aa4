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

//! The client of a tenant's OpenAI-compatible chat-completions provider.
//!
//! - `openai` (OpenAI, Ollama, vLLM, llama.cpp server, LocalAI, ...): `POST
//!   {baseUrl}/chat/completions` with `Authorization: Bearer <key>` (no header without a key);
//! - `azure`: `POST {baseUrl}/openai/deployments/{model}/chat/completions?api-version=...`
//!   with `api-key: <key>`.
//!
//! The answer is asked for as a stream (`stream: true`, usage in the last chunk); a server
//! that answers with one JSON document instead is read as such. Deltas are handed to the
//! caller as they come. The base URL is the tenant's choice, so the request goes through the
//! outbound [`FetchPolicy`] (a model on loopback or a private network needs
//! `RINGSIDE_ALLOW_PRIVATE_FETCH`), never follows redirects, and is bounded in time and size.

use std::time::Duration;

use ringside_knowledge::rag::{ChatMessage, SseParser};
use serde_json::{json, Value};

use crate::outbound::FetchPolicy;

/// Largest answer body read.
const MAX_BODY: usize = 2 * 1024 * 1024;
/// Tokens a model answer may use.
pub const MAX_ANSWER_TOKENS: u32 = 400;

/// Where and how to ask.
#[derive(Debug, Clone)]
pub struct Provider {
    /// `openai` or `azure`.
    pub kind: String,
    /// Base URL.
    pub base_url: String,
    /// Model (Azure: deployment).
    pub model: String,
    /// Azure `api-version`.
    pub api_version: Option<String>,
    /// The API key, opened.
    pub api_key: Option<String>,
    /// How long an answer may take in all (connection, first token, stream).
    pub timeout: Duration,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The text.
    pub text: String,
    /// Prompt tokens (the provider's count, or an estimate when it gives none).
    pub prompt_tokens: i64,
    /// Completion tokens (likewise).
    pub completion_tokens: i64,
}

/// Why the provider gave no answer (the assistant then answers without it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiError {
    /// The URL is refused by the outbound policy or malformed.
    #[error("provider URL refused: {0}")]
    Refused(String),
    /// It answered with an HTTP error.
    #[error("provider answered HTTP {0}")]
    Status(u16),
    /// No answer in time.
    #[error("provider timed out")]
    Timeout,
    /// It could not be reached.
    #[error("provider unreachable")]
    Unreachable,
    /// The answer was not chat-completions JSON, or empty.
    #[error("provider answer unreadable")]
    Malformed,
}

impl Provider {
    /// The chat-completions URL.
    pub fn url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.kind.as_str() {
            "azure" => format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={}",
                ringside_knowledge::text::percent_encode(&self.model),
                ringside_knowledge::text::percent_encode(
                    self.api_version.as_deref().unwrap_or("2024-10-21")
                )
            ),
            _ => format!("{base}/chat/completions"),
        }
    }
}

/// A rough token count (four characters a token) for providers that report none.
fn estimate_tokens(s: &str) -> i64 {
    (s.chars().count() as i64 + 3) / 4
}

/// Asks `p` for an answer to `messages`, handing each piece of text to `on_delta` as it
/// streams in.
pub async fn complete(
    policy: FetchPolicy,
    p: &Provider,
    messages: &[ChatMessage],
    mut on_delta: impl FnMut(&str),
) -> Result<Completion, AiError> {
    let url = p.url();
    policy
        .check(&url)
        .await
        .map_err(|e| AiError::Refused(e.to_string()))?;
    let client = policy
        .client(p.timeout, "Ringside/0.1 (assistant)")
        .map_err(|_| AiError::Unreachable)?;
    let body = json!({
        "model": p.model,
        "messages": messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.2,
        "max_tokens": MAX_ANSWER_TOKENS,
    });
    let mut req = client.post(&url).json(&body);
    if let Some(k) = p.api_key.as_deref().filter(|k| !k.is_empty()) {
        req = match p.kind.as_str() {
            "azure" => req.header("api-key", k),
            _ => req.bearer_auth(k),
        };
    }
    let exchange = async {
        let mut resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                AiError::Timeout
            } else {
                AiError::Unreachable
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(AiError::Status(status.as_u16()));
        }
        let streamed = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut text = String::new();
        let mut usage: Option<(i64, i64)> = None;
        let mut read = 0usize;
        if streamed {
            let mut sse = SseParser::default();
            let mut events = Vec::new();
            loop {
                let chunk = resp.chunk().await.map_err(|e| {
                    if e.is_timeout() {
                        AiError::Timeout
                    } else {
                        AiError::Unreachable
                    }
                })?;
                let Some(chunk) = chunk else {
                    events.extend(sse.finish());
                    break;
                };
                read += chunk.len();
                if read > MAX_BODY {
                    return Err(AiError::Malformed);
                }
                events.extend(sse.push(&chunk));
                for e in events.drain(..) {
                    if e.trim() == "[DONE]" {
                        continue;
                    }
                    let v: Value = serde_json::from_str(&e).map_err(|_| AiError::Malformed)?;
                    if let Some(d) = v["choices"][0]["delta"]["content"].as_str() {
                        if !d.is_empty() {
                            text.push_str(d);
                            on_delta(d);
                        }
                    }
                    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                        usage = Some((
                            u["prompt_tokens"].as_i64().unwrap_or(0),
                            u["completion_tokens"].as_i64().unwrap_or(0),
                        ));
                    }
                }
            }
            for e in events {
                if let Ok(v) = serde_json::from_str::<Value>(&e) {
                    if let Some(d) = v["choices"][0]["delta"]["content"].as_str() {
                        text.push_str(d);
                        on_delta(d);
                    }
                }
            }
        } else {
            let body = crate::outbound::read_limited(resp, MAX_BODY)
                .await
                .map_err(|e| match e {
                    crate::outbound::BodyError::TooLarge(_) => AiError::Malformed,
                    crate::outbound::BodyError::Broken => AiError::Unreachable,
                })?;
            let v: Value = serde_json::from_slice(&body).map_err(|_| AiError::Malformed)?;
            text = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or(AiError::Malformed)?
                .to_owned();
            on_delta(&text);
            if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                usage = Some((
                    u["prompt_tokens"].as_i64().unwrap_or(0),
                    u["completion_tokens"].as_i64().unwrap_or(0),
                ));
            }
        }
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(AiError::Malformed);
        }
        let (prompt_tokens, completion_tokens) = usage.unwrap_or_else(|| {
            let prompt: i64 = messages.iter().map(|m| estimate_tokens(&m.content)).sum();
            (prompt, estimate_tokens(&text))
        });
        Ok(Completion {
            text,
            prompt_tokens,
            completion_tokens,
        })
    };
    tokio::time::timeout(p.timeout, exchange)
        .await
        .unwrap_or(Err(AiError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_both_kinds() {
        let mut p = Provider {
            kind: "openai".into(),
            base_url: "http://127.0.0.1:11434/v1/".into(),
            model: "llama3".into(),
            api_version: None,
            api_key: None,
            timeout: Duration::from_secs(20),
        };
        assert_eq!(p.url(), "http://127.0.0.1:11434/v1/chat/completions");
        p.kind = "azure".into();
        p.base_url = "https://res.openai.azure.com".into();
        p.model = "gpt 4o/x".into();
        p.api_version = Some("2024-10-21".into());
        assert_eq!(
            p.url(),
            "https://res.openai.azure.com/openai/deployments/gpt%204o%2Fx/chat/completions?api-version=2024-10-21"
        );
    }
}

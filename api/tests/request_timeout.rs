//! The request timeout, on a real socket: a request that takes longer than the configured
//! limit — here an upload whose body stops arriving — is answered `408` with the stable JSON
//! error body, and the server goes on answering.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use ringside_api::{router, AppState};
use ringside_storage::Store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Everything the server sends until it has sent a whole JSON body (or closes). The 30 s is a
/// guard against a hang, not a speed limit.
async fn read_answer(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if n == 0 || text.trim_end().ends_with('}') {
            return text.into_owned();
        }
    }
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn body(answer: &str) -> Value {
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(json).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_stalled_upload_is_answered_408_and_the_server_goes_on() {
    for backend in common::backends("request-timeout").await {
        stalled_upload(&backend.store, backend.name).await;
        backend.finish().await;
    }
}

async fn stalled_upload(store: &Store, backend: &str) {
    let app = router(AppState {
        request_timeout: Duration::from_millis(300),
        ..common::state(store)
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    // A chat question announcing 1000 bytes and sending 12, then nothing.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /widget/ask HTTP/1.1\r\nHost: calls.example.net\r\n\
          Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"clientId\":",
    )
    .await
    .unwrap();
    let answer = read_answer(&mut s).await;
    assert_eq!(status(&answer), 408, "{backend}: {answer}");
    assert_eq!(
        body(&answer)["error"]["code"],
        "request_timeout",
        "{backend}: {answer}"
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{backend}: {answer}"
    );

    // The server still answers, on a new connection.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: calls.example.net\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut s).await;
    assert_eq!(status(&answer), 200, "{backend}: {answer}");
    assert_eq!(body(&answer)["status"], "ok", "{backend}: {answer}");
    server.abort();
}

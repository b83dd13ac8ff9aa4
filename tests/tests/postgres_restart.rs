//! PostgreSQL restarted under load. A private PostgreSQL cluster (initdb into a temporary
//! directory, its own port; the shared one on 5432 is left alone) backs `ringside serve`
//! while sipp places authenticated calls at a steady rate; in the middle the cluster is
//! stopped (fast shutdown: every connection cut) and started again a couple of seconds later.
//! Signalling holds, the API answers again once the database is back, and every call sipp
//! completed has its record, ended, none lost.

use std::time::Duration;

use ringside_e2e::postgres::PrivatePg;
use ringside_e2e::{eventually, Server, UacFlow};

const CALLS: u32 = 100;

#[tokio::test]
async fn postgres_restarted_under_load_loses_no_call_record() {
    let pg = PrivatePg::start();
    let url = pg.url();
    let srv = Server::start_with(&[("RINGSIDE_DATABASE_URL", url.as_str())]).await;
    let token = srv.with_phones().await;

    // 1002 answers every call (a two-second conversation each, RTP echoed).
    let (_uas, mut uas_child) = srv.answering(CALLS).await;
    let calls = CALLS.to_string();

    // 1001 calls at 10 calls/s for ten seconds.
    let caller = srv.caller(
        UacFlow::AnswerAndHangUp,
        &["-r", "10", "-m", &calls, "-l", "40", "-timeout", "60s"],
    );
    let mut caller_child = caller.spawn();

    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.down();
    // While the database is down the API says so, with a JSON error body.
    let (st, body) = srv.api("GET", "/api/v1/calls", &token, None).await;
    assert_eq!(st, 503, "{body}\n{}", srv.log_text());
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.up();

    let caller_ok = tokio::time::timeout(Duration::from_secs(120), caller_child.wait())
        .await
        .expect("the caller finishes")
        .unwrap()
        .success();
    let _ = tokio::time::timeout(Duration::from_secs(30), uas_child.wait()).await;
    assert!(
        caller_ok,
        "every call completed: {}\nserver log:\n{}",
        caller.messages(),
        srv.log_text()
    );

    // Every call is on record and ended; nothing was dropped on the floor.
    eventually("every call recorded and ended", || {
        let (srv, token) = (&srv, &token);
        async move {
            let (st, list) = srv.api("GET", "/api/v1/calls?limit=200", token, None).await;
            st == 200
                && list.as_array().is_some_and(|l| {
                    l.len() == CALLS as usize && l.iter().all(|c| c["endedAt"].is_i64())
                })
        }
    })
    .await;
    let (_, list) = srv
        .api("GET", "/api/v1/calls?limit=200", &token, None)
        .await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "ended" && c["endReason"] == "hangup"),
        "{list}"
    );
    assert_eq!(
        srv.metric("ringside_call_record_write_failures_total", "")
            .await,
        0.0,
        "{}",
        srv.log_text()
    );
    assert!(!srv.log_text().contains("panicked"), "{}", srv.log_text());
}

//! The driver reads one clock for everything an event touches: with a clock whose wall time is
//! a century ahead, a registration's expiry (decided by the core) and its `updated_at` (stamped
//! by the storage writer) are both on that clock, not on the system's.

mod common;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use common::{answer, ask, loopback_config, register, start_driver_with_clock, status, REALM};
use ringside_calls::clock::{Clock, Now, SystemClock};
use ringside_calls::core::SipCore;
use ringside_calls::directory::Directory;
use ringside_calls::metrics::SipMetrics;
use ringside_calls::overload::Overload;
use ringside_domain::DigestHa1;
use ringside_media::MediaEngine;
use ringside_sip::auth::Algorithm;
use ringside_storage::{NewExtension, Store};
use tokio::net::UdpSocket;

/// A hundred years, in milliseconds.
const CENTURY_MS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// The system clock with its wall time moved a century ahead (timers still run on the real
/// monotonic clock).
#[derive(Debug)]
struct Ahead;

impl Clock for Ahead {
    fn now(&self) -> Now {
        let now = SystemClock.now();
        Now {
            at: now.at,
            unix_ms: now.unix_ms + CENTURY_MS,
        }
    }
}

#[tokio::test]
async fn the_core_and_the_storage_writer_read_the_drivers_clock() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let owner = store.ensure_user("owner@example.com").await.unwrap();
    let ha1 = DigestHa1::new("1002", REALM, "pw-1002-secret");
    let ext = store
        .create_extension(
            &owner.tenant_id,
            NewExtension {
                username: "1002".into(),
                display_name: "Desk".into(),
                realm: REALM.into(),
                ha1_md5: ha1.md5,
                ha1_sha256: ha1.sha256,
                widget_ids: vec![],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let metrics = Arc::new(SipMetrics::default());
    let core = SipCore::new(
        loopback_config(0, Duration::from_secs(30), vec![Algorithm::Md5]),
        Directory::load(vec![ext.clone()], vec![]),
        Box::new(MediaEngine::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            43_100..=43_199,
        )),
        metrics.clone(),
    );
    let sip = start_driver_with_clock(
        core,
        store.clone(),
        metrics,
        Overload::default(),
        Arc::new(Ahead),
    )
    .await;

    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = phone.local_addr().unwrap().port();
    let before = Ahead.now().unix_ms;
    let challenge = ask(&phone, sip.local_addr, &register("1002", port, 1, None)).await;
    assert_eq!(status(&challenge), 401, "{challenge}");
    let auth = answer(
        &challenge,
        false,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1002",
        "pw-1002-secret",
    );
    let ok = ask(
        &phone,
        sip.local_addr,
        &register("1002", port, 2, Some(&auth)),
    )
    .await;
    assert_eq!(status(&ok), 200, "{ok}");
    sip.flush_storage().await;
    let after = Ahead.now().unix_ms;

    // Nothing is live on the system's clock a century from now but what the driver's clock
    // stamped.
    let live = store.live_bindings(before).await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    let b = &live[0];
    assert_eq!(b.extension_id, ext.id);
    // Expires: 600 in the REGISTER, decided by the core at its clock's time.
    assert!(
        (before + 600_000..=after + 600_000).contains(&b.expires_at),
        "expires_at {} not 600 s after [{before}, {after}]",
        b.expires_at
    );
    // Stamped by the storage writer on the same clock.
    assert!(
        (before..=after).contains(&b.updated_at),
        "updated_at {} not in [{before}, {after}]",
        b.updated_at
    );
}

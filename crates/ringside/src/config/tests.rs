//! Settings from files and the environment: defaults, overrides, refusals.

use super::*;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

#[test]
fn webrtc_candidates_are_the_public_ip_and_a_specific_bind_address() {
    let load = |pairs: &[(&str, &str)]| {
        RawConfig::load(None, env(pairs))
            .unwrap()
            .validate()
            .unwrap()
    };
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    // Defaults: loopback only.
    assert_eq!(load(&[]).webrtc_candidate_ips(), vec![ip("127.0.0.1")]);
    // Bound to a LAN address, public IP by default: both.
    assert_eq!(
        load(&[("RINGSIDE_WEBRTC_ADDR", "10.0.0.5:7882")]).webrtc_candidate_ips(),
        vec![ip("127.0.0.1"), ip("10.0.0.5")]
    );
    // A public IP and a wildcard bind: the public IP alone.
    assert_eq!(
        load(&[
            ("RINGSIDE_PUBLIC_IP", "192.0.2.10"),
            ("RINGSIDE_WEBRTC_ADDR", "0.0.0.0:7882")
        ])
        .webrtc_candidate_ips(),
        vec![ip("192.0.2.10")]
    );
    // Bound to the public IP itself: once.
    assert_eq!(
        load(&[
            ("RINGSIDE_PUBLIC_IP", "192.0.2.10"),
            ("RINGSIDE_WEBRTC_ADDR", "192.0.2.10:7882")
        ])
        .webrtc_candidate_ips(),
        vec![ip("192.0.2.10")]
    );
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

#[test]
fn webrtc_settings_from_the_environment() {
    let s = RawConfig::load(
        None,
        env(&[
            ("RINGSIDE_WEBRTC_ADDR", "127.0.0.1:9000"),
            (
                "RINGSIDE_ICE_SERVERS",
                "stun:stun.example.net:3478, turn:turn.example.net",
            ),
            ("RINGSIDE_TURN_USERNAME", "u"),
            ("RINGSIDE_TURN_CREDENTIAL", "c"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(
        s.webrtc.addr,
        "127.0.0.1:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        s.webrtc.ice_servers,
        ["stun:stun.example.net:3478", "turn:turn.example.net"]
    );
    assert_eq!(s.webrtc.turn_credentials, Some(("u".into(), "c".into())));
    for bad in [
        vec![("RINGSIDE_ICE_SERVERS", "http://x")],
        vec![("RINGSIDE_WEBRTC_ADDR", "nope")],
        vec![("RINGSIDE_TURN_USERNAME", "u")],
    ] {
        let r = RawConfig::load(None, env(&bad)).unwrap().validate();
        assert!(r.is_err(), "{bad:?}");
    }
}

#[test]
fn defaults_work_without_any_config() {
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    assert_eq!(s.http.addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(s.sip.addr, "0.0.0.0:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(s.database_url, "sqlite://data/ringside.db?mode=rwc");
    assert_eq!(s.media.rtp_ports, 20000..=30000);
    assert_eq!(s.sip.public_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(s.http.public_url, "http://127.0.0.1:8080");
    assert_eq!(s.webrtc.addr, "0.0.0.0:7882".parse::<SocketAddr>().unwrap());
    assert!(s.webrtc.ice_servers.is_empty());
}

#[test]
fn an_unspecified_ipv6_sip_address_defaults_to_the_ipv6_loopback() {
    let s = RawConfig::load(None, env(&[("RINGSIDE_SIP_ADDR", "[::]:5060")]))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(s.sip.public_ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(s.sip.relay_ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    let s = RawConfig::load(None, env(&[("RINGSIDE_SIP_ADDR", "[::1]:5070")]))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(s.sip.public_ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(s.sip.addr.port(), 5070);
}

#[test]
fn rate_limits_from_environment() {
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    assert_eq!(s.http.rate_limits, ringside_api::RateLimitConfig::default());
    let s = RawConfig::load(
        None,
        env(&[
            ("RINGSIDE_RATE_LIMIT_TRACK_PER_IP_RATE", "50"),
            ("RINGSIDE_RATE_LIMIT_TRACK_PER_IP_BURST", "100"),
            ("RINGSIDE_RATE_LIMIT_CHAT_PER_IP_RATE", "0"),
            ("RINGSIDE_RATE_LIMIT_PER_WIDGET_BURST", "5000"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(
        s.http.rate_limits.track_per_ip,
        ringside_api::Limit::new(50.0, 100)
    );
    assert_eq!(
        s.http.rate_limits.chat_per_ip,
        ringside_api::Limit::new(0.0, 10)
    );
    assert_eq!(
        s.http.rate_limits.per_widget,
        ringside_api::Limit::new(1000.0, 5000)
    );
    let e = RawConfig::load(None, env(&[("RINGSIDE_RATE_LIMIT_CHAT_PER_IP_BURST", "0")]))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(format!("{e:#}").contains("chat_per_ip_burst"));
}

#[test]
fn public_url_from_environment() {
    let s = RawConfig::load(
        None,
        env(&[("RINGSIDE_PUBLIC_URL", "https://calls.example.com/")]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(s.http.public_url, "https://calls.example.com");
    let e = RawConfig::load(None, env(&[("RINGSIDE_PUBLIC_URL", "calls.example.com")]))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(format!("{e:#}").contains("public_url"));
}

#[test]
fn environment_overrides_file() {
    let dir = std::env::temp_dir().join(format!("ringside-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("c.toml");
    std::fs::write(
        &f,
        "http_addr = \"127.0.0.1:9000\"\nrtp_ports = \"40000-40100\"\n",
    )
    .unwrap();
    let s = RawConfig::load(
        Some(&f),
        env(&[
            ("RINGSIDE_HTTP_ADDR", "127.0.0.1:9100"),
            ("RINGSIDE_PUBLIC_IP", "192.0.2.10"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(s.http.addr.port(), 9100);
    assert_eq!(s.media.rtp_ports, 40000..=40100);
    assert_eq!(s.sip.public_ip.to_string(), "192.0.2.10");
}

#[test]
fn transaction_timers_and_webhook_delivery_are_configurable() {
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    assert_eq!(s.http.request_timeout, Duration::from_secs(60));
    assert_eq!(s.sip.timers, ringside_sip::transaction::Config::default());
    assert_eq!(
        s.sip.overload,
        ringside_calls::overload::Overload::default()
    );
    let d = ringside_api::webhook_dispatch::DispatchConfig::default();
    let got = s.webhooks.dispatch_config(s.http.fetch_policy());
    assert_eq!(
        (
            got.max_attempts,
            got.request_timeout,
            got.base_backoff,
            got.max_backoff
        ),
        (
            d.max_attempts,
            d.request_timeout,
            d.base_backoff,
            d.max_backoff
        )
    );
    assert!(!got.policy.allow_private);

    let s = RawConfig::load(
        None,
        env(&[
            ("RINGSIDE_SIP_TIMER_T1_MS", "250"),
            ("RINGSIDE_SIP_TIMER_T2_MS", "2000"),
            ("RINGSIDE_SIP_TIMER_T4_MS", "2500"),
            ("RINGSIDE_SIP_OVERLOAD_QUEUE_DEPTH", "500"),
            ("RINGSIDE_SIP_OVERLOAD_RETRY_AFTER_SECS", "9"),
            ("RINGSIDE_WEBHOOK_MAX_ATTEMPTS", "3"),
            ("RINGSIDE_WEBHOOK_REQUEST_TIMEOUT_SECS", "30"),
            ("RINGSIDE_WEBHOOK_BASE_BACKOFF_SECS", "2"),
            ("RINGSIDE_WEBHOOK_MAX_BACKOFF_SECS", "60"),
            ("RINGSIDE_ALLOW_PRIVATE_FETCH", "true"),
            ("RINGSIDE_HTTP_REQUEST_TIMEOUT_SECS", "15"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(s.http.request_timeout, Duration::from_secs(15));
    // The core is built with these timers.
    let core = s.sip.core_config([0; 32], &s.media);
    assert_eq!(core.tx.t1, Duration::from_millis(250));
    assert_eq!(core.tx.t2, Duration::from_millis(2000));
    assert_eq!(core.tx.t4, Duration::from_millis(2500));
    assert_eq!(
        (s.sip.overload.queue_depth, s.sip.overload.retry_after_secs),
        (500, 9)
    );
    // The dispatcher with these limits; a claim outlives the longer request.
    let w = s.webhooks.dispatch_config(s.http.fetch_policy());
    assert_eq!(w.max_attempts, 3);
    assert_eq!(w.request_timeout, Duration::from_secs(30));
    assert_eq!(w.backoff(1), Duration::from_secs(2));
    assert_eq!(w.backoff(10), Duration::from_secs(60));
    assert!(w.lease > w.request_timeout);
    assert!(w.policy.allow_private);

    for (key, value, says) in [
        ("RINGSIDE_SIP_TIMER_T1_MS", "10", "sip_timer_t1_ms"),
        ("RINGSIDE_SIP_TIMER_T2_MS", "100", "sip_timer_t2_ms"),
        ("RINGSIDE_SIP_TIMER_T4_MS", "90000", "sip_timer_t4_ms"),
        ("RINGSIDE_WEBHOOK_MAX_ATTEMPTS", "0", "webhook_max_attempts"),
        (
            "RINGSIDE_HTTP_REQUEST_TIMEOUT_SECS",
            "0",
            "http_request_timeout_secs",
        ),
        (
            "RINGSIDE_WEBHOOK_REQUEST_TIMEOUT_SECS",
            "0",
            "webhook_request_timeout_secs",
        ),
        (
            "RINGSIDE_WEBHOOK_MAX_BACKOFF_SECS",
            "1",
            "webhook_base_backoff_secs",
        ),
        (
            "RINGSIDE_SIP_TIMER_T1_MS",
            "soon",
            "RINGSIDE_SIP_TIMER_T1_MS",
        ),
    ] {
        let e = RawConfig::load(None, env(&[(key, value)]))
            .and_then(RawConfig::validate)
            .unwrap_err();
        assert!(format!("{e:#}").contains(says), "{key}={value}: {e:#}");
    }
}

#[test]
fn bad_values_are_explained() {
    let e = RawConfig::load(None, env(&[("RINGSIDE_RTP_PORTS", "5-1")]))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(format!("{e:#}").contains("rtp_ports"));
    let e = RawConfig::load(None, env(&[("RINGSIDE_PUBLIC_IP", "nope")]))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(format!("{e:#}").contains("public_ip"));
    let e = RawConfig::load(None, env(&[("RINGSIDE_DATABASE_URL", "mysql://x")]))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(format!("{e:#}").contains("database_url"));
}

#[test]
fn smtp_settings_are_checked_at_start_and_keep_the_password_out_of_debug() {
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    assert!(
        s.http.smtp.is_none(),
        "no SMTP by default: codes go to the log"
    );
    let s = RawConfig::load(
        None,
        env(&[
            (
                "RINGSIDE_SMTP_URL",
                "smtp://mailer:s3cret@mail.example.com:587",
            ),
            ("RINGSIDE_PUBLIC_URL", "https://calls.example.com"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap();
    let smtp = s.http.smtp.clone().unwrap();
    assert_eq!(smtp.from, "Ringside <no-reply@calls.example.com>");
    let shown = format!("{s:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("mail.example.com"));
    let s = RawConfig::load(
        None,
        env(&[
            ("RINGSIDE_SMTP_URL", "smtp+plain://127.0.0.1:2525"),
            ("RINGSIDE_SMTP_FROM", "Desk <desk@example.org>"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(s.http.smtp.unwrap().from, "Desk <desk@example.org>");
    for (url, from) in [
        ("http://mail.example.com", "a@example.org"),
        ("smtp://mail.example.com", "not an address"),
    ] {
        let e = RawConfig::load(
            None,
            env(&[("RINGSIDE_SMTP_URL", url), ("RINGSIDE_SMTP_FROM", from)]),
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(format!("{e:#}").contains("smtp_url"), "{e:#}");
    }
    let e = RawConfig::load(
        None,
        env(&[
            ("RINGSIDE_SMTP_URL", "smtps://mail.example.com"),
            ("RINGSIDE_SMTP_CA_FILE", "/nonexistent/ca.pem"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap_err();
    assert!(format!("{e:#}").contains("smtp_ca_file"), "{e:#}");
}

#[test]
fn sip_over_tls_needs_its_certificate_and_dns_servers_are_addresses() {
    let load = |pairs: &[(&str, &str)]| RawConfig::load(None, env(pairs)).unwrap().validate();
    let s = load(&[
        ("RINGSIDE_SIP_ADDR", "192.0.2.1:5060"),
        ("RINGSIDE_SIP_TLS_ADDR", "192.0.2.1:5061"),
        ("RINGSIDE_TLS_CERT", "/etc/ringside/cert.pem"),
        ("RINGSIDE_TLS_KEY", "/etc/ringside/key.pem"),
        ("RINGSIDE_DNS_SERVERS", "127.0.0.1:5353, 192.0.2.53"),
    ])
    .unwrap();
    let tls = s.sip.tls.as_ref().expect("TLS served");
    assert_eq!(tls.addr, "192.0.2.1:5061".parse::<SocketAddr>().unwrap());
    assert_eq!(tls.cert, PathBuf::from("/etc/ringside/cert.pem"));
    let core = s.sip.core_config([0; 32], &s.media);
    assert_eq!(core.local.tls_port, Some(5061));
    assert_eq!(
        s.sip.dns,
        vec![
            "127.0.0.1:5353".parse::<SocketAddr>().unwrap(),
            "192.0.2.53:53".parse::<SocketAddr>().unwrap()
        ]
    );
    // Off by default; a TLS address without its files is refused at start, saying what.
    let plain = load(&[]).unwrap();
    assert!(plain.sip.tls.is_none() && plain.sip.dns.is_empty());
    let e = load(&[("RINGSIDE_SIP_TLS_ADDR", "0.0.0.0:5061")]).unwrap_err();
    assert!(e.to_string().contains("RINGSIDE_TLS_CERT"), "{e}");
    let e = load(&[("RINGSIDE_DNS_SERVERS", "dns.example")]).unwrap_err();
    assert!(e.to_string().contains("dns_servers"), "{e}");
    // An IPv6 public address is written in brackets where SIP needs it.
    let v6 = load(&[("RINGSIDE_PUBLIC_IP", "2001:db8::5")]).unwrap();
    assert_eq!(
        v6.sip.core_config([0; 32], &v6.media).local.host,
        "[2001:db8::5]"
    );
    assert!(v6
        .sip
        .core_config([0; 32], &v6.media)
        .tx
        .dual_stack
        .is_none());
}

#[test]
fn a_dual_stack_listener_has_a_public_address_per_family() {
    let load = |pairs: &[(&str, &str)]| RawConfig::load(None, env(pairs)).unwrap().validate();
    let dual = load(&[
        ("RINGSIDE_SIP_ADDR", "[::]:5060"),
        ("RINGSIDE_PUBLIC_IP", "192.0.2.10, 2001:db8::5"),
    ])
    .unwrap();
    let core = dual.sip.core_config([0; 32], &dual.media);
    assert_eq!(core.local.host, "192.0.2.10", "the first is the primary");
    let d = core.tx.dual_stack.expect("dual stack");
    assert_eq!(
        (d.v4.to_string(), d.v6.to_string()),
        ("192.0.2.10".into(), "2001:db8::5".into())
    );
    assert_eq!(
        dual.webrtc_candidate_ips(),
        vec![
            "192.0.2.10".parse::<std::net::IpAddr>().unwrap(),
            "2001:db8::5".parse().unwrap()
        ]
    );
    // Unset on [::]: both loopbacks.
    let lo = load(&[("RINGSIDE_SIP_ADDR", "[::]:5060")]).unwrap();
    let d = lo.sip.dual_stack().expect("both loopbacks");
    assert!(d.v4.is_loopback() && d.v6.is_loopback());
    assert_eq!(lo.sip.public_ip.to_string(), "::1");
    // Two addresses need the dual-stack wildcard, and one of each family.
    let e = load(&[
        ("RINGSIDE_SIP_ADDR", "0.0.0.0:5060"),
        ("RINGSIDE_PUBLIC_IP", "192.0.2.10,2001:db8::5"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("[::]"), "{e}");
    let e = load(&[
        ("RINGSIDE_SIP_ADDR", "[::]:5060"),
        ("RINGSIDE_PUBLIC_IP", "192.0.2.10,192.0.2.11"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("one IPv4 and one IPv6"), "{e}");
    let e = load(&[("RINGSIDE_PUBLIC_IP", "192.0.2.10,nope")]).unwrap_err();
    assert!(e.to_string().contains("not an IP address"), "{e}");
}

#[test]
fn sip_over_websocket_has_a_path_allowed_origins_and_https_needs_its_certificate() {
    let load = |pairs: &[(&str, &str)]| RawConfig::load(None, env(pairs)).unwrap().validate();
    // On by default at /sip, plain HTTP, no extra origins.
    let d = load(&[]).unwrap();
    assert_eq!(d.sip.ws_path.as_deref(), Some("/sip"));
    assert!(d.sip.ws_origins.is_empty() && d.http.tls.is_none());
    let s = load(&[
        ("RINGSIDE_SIP_WS_PATH", "/ws/sip"),
        (
            "RINGSIDE_SIP_WS_ORIGINS",
            "https://Phone.example.com/, http://127.0.0.1:8000",
        ),
        ("RINGSIDE_HTTP_TLS", "true"),
        ("RINGSIDE_TLS_CERT", "/etc/ringside/cert.pem"),
        ("RINGSIDE_TLS_KEY", "/etc/ringside/key.pem"),
        ("RINGSIDE_HTTP_ADDR", "192.0.2.1:443"),
    ])
    .unwrap();
    assert_eq!(s.sip.ws_path.as_deref(), Some("/ws/sip"));
    assert_eq!(
        s.sip.ws_origins,
        ["https://phone.example.com", "http://127.0.0.1:8000"]
    );
    let (cert, _) = s.http.tls.as_ref().expect("HTTPS");
    assert_eq!(cert, &PathBuf::from("/etc/ringside/cert.pem"));
    // The default public URL follows the scheme served.
    assert_eq!(s.http.public_url, "https://192.0.2.1:443");
    assert!(load(&[("RINGSIDE_SIP_WS_PATH", "off")])
        .unwrap()
        .sip
        .ws_path
        .is_none());
    for (key, value, needle) in [
        ("RINGSIDE_SIP_WS_PATH", "sip", "sip_ws_path"),
        ("RINGSIDE_SIP_WS_PATH", "/sip?x=1", "sip_ws_path"),
        (
            "RINGSIDE_SIP_WS_ORIGINS",
            "phone.example.com",
            "sip_ws_origins",
        ),
        ("RINGSIDE_HTTP_TLS", "true", "RINGSIDE_TLS_CERT"),
    ] {
        let e = load(&[(key, value)]).unwrap_err();
        assert!(e.to_string().contains(needle), "{key}={value}: {e}");
    }
    assert!(RawConfig::load(None, env(&[("RINGSIDE_HTTP_TLS", "maybe")])).is_err());
}

#[test]
fn the_node_id_defaults_to_the_host_name_and_nats_is_off_unless_named() {
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if valid_node_id(host) {
        assert_eq!(s.cluster.node_id, host);
    } else {
        assert_eq!(s.cluster.node_id, "ringside");
    }
    assert!(s.cluster.nats_url.is_none(), "single node by default");
    assert!(
        s.cluster.persist_node_id,
        "kept in the data directory at start"
    );
    // A data directory first started elsewhere (a container recreated under a new host
    // name) keeps its node id.
    let dir = std::env::temp_dir().join(format!("ringside-node-id-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("node-id"), "first-host\n").unwrap();
    let data = dir.display().to_string();
    let s = RawConfig::load(None, env(&[("RINGSIDE_DATA_DIR", &data)]))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(
        (s.cluster.node_id.as_str(), s.cluster.persist_node_id),
        ("first-host", false)
    );
    let s = RawConfig::load(
        None,
        env(&[("RINGSIDE_DATA_DIR", &data), ("RINGSIDE_NODE_ID", "given")]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(
        (s.cluster.node_id.as_str(), s.cluster.persist_node_id),
        ("given", false)
    );
    let _ = std::fs::remove_dir_all(&dir);

    let s = RawConfig::load(
        None,
        env(&[
            ("RINGSIDE_NODE_ID", "node-b.eu_1"),
            ("RINGSIDE_NATS_URL", "nats://bus:s3cret@127.0.0.1:4222"),
        ]),
    )
    .unwrap()
    .validate()
    .unwrap();
    assert_eq!(s.cluster.node_id, "node-b.eu_1");
    assert_eq!(
        s.cluster.nats_url.as_deref(),
        Some("nats://bus:s3cret@127.0.0.1:4222")
    );
    let debug = format!("{s:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("127.0.0.1:4222"), "{debug}");

    for (key, bad) in [
        ("RINGSIDE_NODE_ID", "node a"),
        ("RINGSIDE_NODE_ID", "node*"),
        ("RINGSIDE_NODE_ID", &"n".repeat(65)),
        ("RINGSIDE_NATS_URL", "http://127.0.0.1:4222"),
        ("RINGSIDE_NATS_URL", "nats://"),
    ] {
        let e = RawConfig::load(None, env(&[(key, bad)]))
            .unwrap()
            .validate()
            .unwrap_err();
        let what = key.trim_start_matches("RINGSIDE_").to_ascii_lowercase();
        assert!(format!("{e:#}").contains(&what), "{key}={bad}: {e:#}");
    }
}

#[test]
fn the_cluster_secret_root_is_64_hex_digits_from_the_environment_or_a_file() {
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    assert!(s.cluster.secret_key.is_none());
    let hexed = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let s = RawConfig::load(None, env(&[("RINGSIDE_SECRET_KEY", hexed)]))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(
        s.cluster.secret_key.map(hex::encode).as_deref(),
        Some(hexed)
    );
    let debug = format!("{s:?}");
    assert!(
        !debug.contains(hexed) && !debug.contains("[0, 17"),
        "{debug}"
    );
    let file = std::env::temp_dir().join(format!("ringside-secret-{}", std::process::id()));
    std::fs::write(&file, format!("{hexed}\n")).unwrap();
    let path = file.display().to_string();
    let s = RawConfig::load(None, env(&[("RINGSIDE_SECRET_KEY_FILE", &path)]))
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(
        s.cluster.secret_key.map(hex::encode).as_deref(),
        Some(hexed)
    );
    let zz = "zz".repeat(32);
    for bad in [
        vec![("RINGSIDE_SECRET_KEY", "abcd")],
        vec![("RINGSIDE_SECRET_KEY", zz.as_str())],
        vec![
            ("RINGSIDE_SECRET_KEY", hexed),
            ("RINGSIDE_SECRET_KEY_FILE", path.as_str()),
        ],
        vec![("RINGSIDE_SECRET_KEY_FILE", "/nonexistent/ringside-secret")],
    ] {
        let e = RawConfig::load(None, env(&bad))
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(format!("{e:#}").contains("secret_key"), "{bad:?}: {e:#}");
    }
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_previous_secret_root_needs_a_current_one_and_is_kept_out_of_logs() {
    let (new, old) = ("22".repeat(32), "11".repeat(32));
    let load = |pairs: &[(&str, &str)]| RawConfig::load(None, env(pairs)).unwrap().validate();
    let s = load(&[
        ("RINGSIDE_SECRET_KEY", &new),
        ("RINGSIDE_SECRET_KEY_PREVIOUS", &old),
    ])
    .unwrap();
    assert_eq!(s.cluster.secret_key_previous, Some([0x11; 32]));
    assert!(!format!("{s:?}").contains("[17, 17"), "kept out of Debug");
    let file = std::env::temp_dir().join(format!("ringside-previous-{}", std::process::id()));
    std::fs::write(&file, &old).unwrap();
    let path = file.display().to_string();
    let s = load(&[
        ("RINGSIDE_SECRET_KEY", &new),
        ("RINGSIDE_SECRET_KEY_PREVIOUS_FILE", &path),
    ])
    .unwrap();
    assert_eq!(s.cluster.secret_key_previous, Some([0x11; 32]));
    for (bad, says) in [
        (
            vec![("RINGSIDE_SECRET_KEY_PREVIOUS", old.as_str())],
            "give the new one",
        ),
        (
            vec![
                ("RINGSIDE_SECRET_KEY", new.as_str()),
                ("RINGSIDE_SECRET_KEY_PREVIOUS", "abcd"),
            ],
            "secret_key_previous must be 64 hex digits",
        ),
        (
            vec![
                ("RINGSIDE_SECRET_KEY", new.as_str()),
                ("RINGSIDE_SECRET_KEY_PREVIOUS", old.as_str()),
                ("RINGSIDE_SECRET_KEY_PREVIOUS_FILE", path.as_str()),
            ],
            "give one of them",
        ),
    ] {
        let e = load(&bad).unwrap_err();
        assert!(format!("{e:#}").contains(says), "{bad:?}: {e:#}");
    }
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_media_fast_path_is_auto_on_or_off() {
    let load = |v: &str| {
        RawConfig::load(None, env(&[("RINGSIDE_MEDIA_FASTPATH", v)]))
            .unwrap()
            .validate()
    };
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    assert_eq!(s.media.fastpath, FastPathMode::Auto);
    assert_eq!(load("on").unwrap().media.fastpath, FastPathMode::On);
    assert_eq!(load("off").unwrap().media.fastpath, FastPathMode::Off);
    assert_eq!(load(" auto ").unwrap().media.fastpath, FastPathMode::Auto);
    let e = load("yes").unwrap_err();
    assert!(format!("{e:#}").contains("auto, on or off"), "{e:#}");
}

#[test]
fn the_alert_lease_is_15_to_3600_seconds() {
    let load = |v: &str| {
        RawConfig::load(None, env(&[("RINGSIDE_ALERT_LEASE_SECS", v)]))
            .unwrap()
            .validate()
    };
    let s = RawConfig::load(None, env(&[])).unwrap().validate().unwrap();
    assert_eq!(s.alert_lease, Duration::from_secs(90));
    assert_eq!(load("15").unwrap().alert_lease, Duration::from_secs(15));
    assert_eq!(load("3600").unwrap().alert_lease, Duration::from_secs(3600));
    for bad in ["14", "3601", "0"] {
        let e = load(bad).unwrap_err();
        assert!(
            format!("{e:#}").contains("alert_lease_secs"),
            "{bad}: {e:#}"
        );
    }
    assert!(RawConfig::load(None, env(&[("RINGSIDE_ALERT_LEASE_SECS", "soon")])).is_err());
}

#[test]
fn sip_trusted_proxies_are_addresses_or_cidrs() {
    let load = |pairs: &[(&str, &str)]| RawConfig::load(None, env(pairs)).unwrap().validate();
    assert!(load(&[]).unwrap().sip.trusted_proxies.is_empty());
    let s = load(&[(
        "RINGSIDE_SIP_TRUSTED_PROXIES",
        "10.0.0.5, 10.1.0.0/24,2001:db8::1",
    )])
    .unwrap();
    let written: Vec<String> = s
        .sip
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(written, ["10.0.0.5/32", "10.1.0.0/24", "2001:db8::1/128"]);
    assert!(s.sip.trusted_proxies[1].contains("10.1.0.77".parse().unwrap()));
    let e = load(&[("RINGSIDE_SIP_TRUSTED_PROXIES", "10.0.0.5,edge.example.com")]).unwrap_err();
    assert!(e.to_string().contains("sip_trusted_proxies"), "{e}");
}

#[test]
fn tenants_files_live_in_the_data_directory_unless_told() {
    let load = |pairs: &[(&str, &str)]| RawConfig::load(None, env(pairs)).unwrap().validate();
    let s = load(&[("RINGSIDE_DATA_DIR", "/var/lib/ringside")]).unwrap();
    assert_eq!(s.files_dir, PathBuf::from("/var/lib/ringside"));
    let s = load(&[
        ("RINGSIDE_DATA_DIR", "/var/lib/ringside"),
        ("RINGSIDE_FILES_DIR", "/mnt/shared/ringside"),
    ])
    .unwrap();
    assert_eq!(s.files_dir, PathBuf::from("/mnt/shared/ringside"));
    assert_eq!(s.data_dir, PathBuf::from("/var/lib/ringside"));
}

//! RFC 4733 telephone events: sender, receiver and SIP INFO body parsing.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use ringside_media::dtmf::{
    digit_to_event, event_to_digit, parse_dtmf_relay, DtmfError, DtmfEvent, DtmfPacket,
    DtmfReceiver, DtmfSender, DEFAULT_END_TIMEOUT, DEFAULT_RELAY_DURATION_MS,
};

const DIGITS: &str = "0123456789*#ABCD";
const TICK: Duration = Duration::from_millis(20);

/// Drives the sender for one digit, returning every packet with its send time.
fn send(
    sender: &mut DtmfSender,
    t: &mut Instant,
    digit: char,
    ms: u32,
    ts: u32,
) -> Vec<(Instant, DtmfPacket)> {
    sender.start(*t, digit, ms, ts).unwrap();
    let mut out = Vec::new();
    while let Some(at) = sender.poll_timeout() {
        *t = (*t).max(at);
        out.push((*t, sender.poll_packet(*t).unwrap()));
    }
    *t += TICK;
    out
}

fn feed(rx: &mut DtmfReceiver, pkts: &[(Instant, DtmfPacket)]) {
    for (at, p) in pkts {
        rx.handle_packet(*at, p.timestamp, p.marker, &p.payload)
            .unwrap();
    }
}

fn drain(rx: &mut DtmfReceiver) -> Vec<DtmfEvent> {
    std::iter::from_fn(|| rx.poll_event()).collect()
}

/// Sends all 16 digits (100 ms each, `gap` apart) through `mangle` and returns what the
/// receiver saw, driving its timeout as an event loop would.
fn round_trip(
    gap: Duration,
    mangle: impl Fn(Vec<(Instant, DtmfPacket)>) -> Vec<(Instant, DtmfPacket)>,
) -> Vec<DtmfEvent> {
    let mut t = Instant::now();
    let mut sender = DtmfSender::new(8000, TICK);
    let mut rx = DtmfReceiver::new(8000);
    let mut events = Vec::new();
    for (i, d) in DIGITS.chars().enumerate() {
        let pkts = mangle(send(&mut sender, &mut t, d, 100, 1000 + i as u32 * 8000));
        feed(&mut rx, &pkts);
        t += gap;
        if let Some(deadline) = rx.poll_timeout() {
            if deadline <= t {
                rx.handle_timeout(t);
            }
        }
        events.extend(drain(&mut rx));
    }
    t += DEFAULT_END_TIMEOUT;
    rx.handle_timeout(t);
    events.extend(drain(&mut rx));
    events
}

fn assert_all_digits(events: &[DtmfEvent], duration_ms: u32) {
    let digits: String = events.iter().map(|e| e.digit).collect();
    assert_eq!(digits, DIGITS);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.timestamp, 1000 + i as u32 * 8000);
        assert_eq!(e.duration_ms, duration_ms, "{e:?}");
    }
}

#[test]
fn digit_mapping_round_trips() {
    for (code, d) in DIGITS.chars().enumerate() {
        assert_eq!(digit_to_event(d), Some(code as u8));
        assert_eq!(event_to_digit(code as u8), Some(d));
    }
    assert_eq!(digit_to_event('b'), Some(13));
    assert_eq!(digit_to_event('x'), None);
    assert_eq!(event_to_digit(16), None);
}

#[test]
fn sender_produces_updates_and_three_end_packets() {
    let mut t = Instant::now();
    let start = t;
    let mut sender = DtmfSender::new(8000, TICK);
    let pkts = send(&mut sender, &mut t, '#', 100, 777);
    let fields: Vec<(bool, bool, u16)> = pkts
        .iter()
        .map(|(_, p)| (p.marker, p.end, p.duration))
        .collect();
    assert_eq!(
        fields,
        [
            (true, false, 160),
            (false, false, 320),
            (false, false, 480),
            (false, false, 640),
            (false, false, 800),
            (false, true, 800),
            (false, true, 800),
            (false, true, 800),
        ]
    );
    for (i, (at, p)) in pkts.iter().enumerate() {
        assert_eq!(*at, start + TICK * i as u32, "one packet per interval");
        assert_eq!(p.timestamp, 777);
        assert_eq!(p.payload[0], 11);
        assert_eq!(p.payload[1] & 0x80 != 0, p.end);
        assert_eq!(u16::from_be_bytes([p.payload[2], p.payload[3]]), p.duration);
    }
    assert!(!sender.is_busy());
    assert_eq!(sender.poll_packet(t + Duration::from_secs(1)), None);
}

#[test]
fn sender_rejects_bad_requests() {
    let now = Instant::now();
    let mut sender = DtmfSender::new(8000, TICK);
    assert_eq!(
        sender.start(now, 'x', 100, 0),
        Err(DtmfError::InvalidDigit('x'))
    );
    assert_eq!(
        sender.start(now, '1', 9000, 0),
        Err(DtmfError::DurationTooLong(9000))
    );
    sender.start(now, '1', 100, 0).unwrap();
    assert_eq!(sender.start(now, '2', 100, 0), Err(DtmfError::Busy));
    assert_eq!(
        sender.poll_packet(now - Duration::from_millis(1)),
        None,
        "not due yet"
    );
}

#[test]
fn round_trip_detects_each_digit_once() {
    assert_all_digits(&round_trip(Duration::from_millis(100), |p| p), 100);
}

#[test]
fn round_trip_with_every_packet_duplicated() {
    assert_all_digits(
        &round_trip(Duration::from_millis(100), |p| {
            p.into_iter().flat_map(|x| [x, x]).collect()
        }),
        100,
    );
}

#[test]
fn round_trip_with_start_lost() {
    assert_all_digits(
        &round_trip(Duration::from_millis(100), |p| {
            p.into_iter().skip(2).collect()
        }),
        100,
    );
}

#[test]
fn round_trip_with_only_an_end_packet() {
    assert_all_digits(
        &round_trip(Duration::from_millis(100), |p| {
            p.into_iter().skip(6).collect()
        }),
        100,
    );
}

#[test]
fn round_trip_with_all_end_packets_lost_uses_timeout() {
    let strip = |p: Vec<(Instant, DtmfPacket)>| p.into_iter().filter(|(_, x)| !x.end).collect();
    // Next digit long after the timeout: every digit is reported by the timeout path.
    assert_all_digits(&round_trip(Duration::from_secs(1), strip), 100);
    // Next digit before the timeout: the new event ends the previous one.
    assert_all_digits(&round_trip(Duration::from_millis(100), strip), 100);
}

#[test]
fn lost_end_reported_on_timeout_or_next_event() {
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new(8000).with_end_timeout(Duration::from_millis(200));
    rx.handle_packet(t0, 100, true, &[5, 10, 0, 160]).unwrap();
    rx.handle_packet(t0 + TICK, 100, false, &[5, 10, 1, 64])
        .unwrap();
    assert_eq!(
        rx.poll_timeout(),
        Some(t0 + TICK + Duration::from_millis(200))
    );
    rx.handle_timeout(t0 + Duration::from_millis(100));
    assert_eq!(rx.poll_event(), None);
    rx.handle_timeout(t0 + Duration::from_millis(220));
    let e = rx.poll_event().unwrap();
    assert_eq!((e.digit, e.duration_ms, e.timestamp), ('5', 40, 100));
    assert_eq!(rx.poll_timeout(), None);
    // Late packets of the finished event change nothing.
    rx.handle_packet(
        t0 + Duration::from_millis(240),
        100,
        false,
        &[5, 0x8a, 1, 224],
    )
    .unwrap();
    assert_eq!(rx.poll_event(), None);
    // A new event ends the previous one when its end is lost.
    rx.handle_packet(t0, 2000, true, &[7, 10, 0, 160]).unwrap();
    rx.handle_packet(t0, 3000, true, &[8, 10, 0, 160]).unwrap();
    assert_eq!(rx.poll_event().map(|e| e.digit), Some('7'));
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn retransmitted_start_and_stale_end_packets_are_ignored() {
    let t = Instant::now();
    let mut rx = DtmfReceiver::new(8000);
    for _ in 0..3 {
        rx.handle_packet(t, 0, true, &[3, 10, 0, 0]).unwrap();
    }
    rx.handle_packet(t, 0, false, &[3, 10, 1, 0]).unwrap();
    rx.handle_packet(t, 0, false, &[3, 0x8a, 1, 64]).unwrap();
    rx.handle_packet(t, 1000, true, &[4, 10, 0, 160]).unwrap();
    // A reordered end packet of the first event arrives after the second started.
    rx.handle_packet(t, 0, false, &[3, 0x8a, 1, 64]).unwrap();
    rx.handle_packet(t, 1000, false, &[4, 0x8a, 0, 160])
        .unwrap();
    let got: Vec<(char, u32)> = drain(&mut rx)
        .iter()
        .map(|e| (e.digit, e.duration_ms))
        .collect();
    assert_eq!(got, [('3', 40), ('4', 20)]);
}

#[test]
fn rfc4733_example_byte_sequences() {
    // Digit "9" at volume -7 dBm0, 50 ms packets of 400 units, as laid out in RFC 4733 §2.3:
    // event | E R volume | duration (16 bits, network order).
    let t = Instant::now();
    let mut rx = DtmfReceiver::new(8000);
    let packets: [(bool, [u8; 4]); 6] = [
        (true, [0x09, 0x07, 0x01, 0x90]),
        (false, [0x09, 0x07, 0x03, 0x20]),
        (false, [0x09, 0x07, 0x04, 0xb0]),
        (false, [0x09, 0x87, 0x06, 0x40]),
        (false, [0x09, 0x87, 0x06, 0x40]),
        (false, [0x09, 0x87, 0x06, 0x40]),
    ];
    for (marker, p) in packets {
        rx.handle_packet(t, 0x1234_5678, marker, &p).unwrap();
    }
    let events = drain(&mut rx);
    assert_eq!(
        events,
        [DtmfEvent {
            digit: '9',
            duration_ms: 200,
            timestamp: 0x1234_5678
        }]
    );
}

#[test]
fn sipp_style_stream_yields_exactly_one_digit() {
    // Like sipp's dtmf_2833_1.pcap: event 1, durations growing by 160, three end packets.
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new(8000);
    let mut at = t0;
    for i in 1..=10u16 {
        let [a, b] = (i * 160).to_be_bytes();
        rx.handle_packet(at, 0xdead_0000, i == 1, &[1, 0x0a, a, b])
            .unwrap();
        at += TICK;
    }
    for _ in 0..3 {
        rx.handle_packet(at, 0xdead_0000, false, &[1, 0x8a, 0x06, 0x40])
            .unwrap();
    }
    rx.handle_timeout(at + Duration::from_secs(5));
    let events = drain(&mut rx);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].digit, events[0].duration_ms), ('1', 200));
}

#[test]
fn long_events_across_segments_and_duration_wrap() {
    let t = Instant::now();
    // RFC 4733 §2.5.1.3 segments: a new timestamp continues the event without a marker.
    let mut rx = DtmfReceiver::new(8000);
    rx.handle_packet(t, 1000, true, &[0, 10, 0x80, 0x00])
        .unwrap();
    rx.handle_packet(t, 1000, false, &[0, 10, 0xff, 0xff])
        .unwrap();
    rx.handle_packet(t, 1000 + 0xffff, false, &[0, 10, 0x00, 0xa0])
        .unwrap();
    rx.handle_packet(t, 1000 + 0xffff, false, &[0, 0x8a, 0x3e, 0x81])
        .unwrap();
    let e = drain(&mut rx);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].digit, e[0].timestamp), ('0', 1000));
    assert_eq!(e[0].duration_ms, (0xffff + 0x3e81) / 8);
    // A sender that lets the duration field wrap within one timestamp.
    let mut rx = DtmfReceiver::new(8000);
    rx.handle_packet(t, 5, true, &[2, 10, 0xff, 0x00]).unwrap();
    rx.handle_packet(t, 5, false, &[2, 10, 0x00, 0x40]).unwrap();
    rx.handle_packet(t, 5, false, &[2, 0x8a, 0x01, 0x00])
        .unwrap();
    let e = drain(&mut rx);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].duration_ms, (0x1_0000 + 0x100) / 8);
}

#[test]
fn malformed_packets_are_rejected() {
    let t = Instant::now();
    let mut rx = DtmfReceiver::new(8000);
    assert_eq!(
        rx.handle_packet(t, 0, true, &[1, 2, 3]),
        Err(DtmfError::TooShort(3))
    );
    assert_eq!(
        rx.handle_packet(t, 0, true, &[16, 0, 0, 0]),
        Err(DtmfError::UnsupportedEvent(16))
    );
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn parses_sip_info_bodies() {
    assert_eq!(
        parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"),
        Some(('5', 160))
    );
    assert_eq!(
        parse_dtmf_relay("  signal = #\n duration= 250 "),
        Some(('#', 250))
    );
    assert_eq!(
        parse_dtmf_relay("SIGNAL=*\r\nDURATION=100"),
        Some(('*', 100))
    );
    assert_eq!(parse_dtmf_relay("Signal=d\r\nDuration=80"), Some(('D', 80)));
    assert_eq!(
        parse_dtmf_relay("Signal=11\r\nDuration=80"),
        Some(('#', 80))
    );
    assert_eq!(
        parse_dtmf_relay("Signal=7"),
        Some(('7', DEFAULT_RELAY_DURATION_MS))
    );
    assert_eq!(
        parse_dtmf_relay("5"),
        Some(('5', DEFAULT_RELAY_DURATION_MS))
    );
    assert_eq!(
        parse_dtmf_relay(" 10\r\n"),
        Some(('*', DEFAULT_RELAY_DURATION_MS))
    );
    assert_eq!(parse_dtmf_relay("Duration=160"), None);
    assert_eq!(parse_dtmf_relay("Signal=x\r\nDuration=160"), None);
    assert_eq!(parse_dtmf_relay("Signal=5\r\nDuration=abc"), None);
    assert_eq!(parse_dtmf_relay(""), None);
    assert_eq!(parse_dtmf_relay("16"), None);
}

proptest! {
    #[test]
    fn receiver_never_panics(
        packets in proptest::collection::vec(
            (any::<u32>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..12), 0u64..500),
            0..64,
        )
    ) {
        let mut rx = DtmfReceiver::new(8000);
        let mut t = Instant::now();
        for (ts, marker, payload, advance_ms) in packets {
            t += Duration::from_millis(advance_ms);
            let _ = rx.handle_packet(t, ts, marker, &payload);
            rx.handle_timeout(t);
            while rx.poll_event().is_some() {}
        }
    }

    #[test]
    fn relay_parser_never_panics(body in ".{0,64}") {
        let _ = parse_dtmf_relay(&body);
    }
}

//! Visitor User-Agent classification: Ringside's matcher (`ringside_api::user_agent`) against
//! woothee, a maintained data-driven parser, on the same User-Agents. Prints what each makes
//! of every agent (family, OS, device class, bot), then measures both.
//!
//!     cargo bench -p ringside-benches --bench user_agent

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringside_api::user_agent::parse_user_agent;

/// Desktop, phone and tablet browsers, a crawler, HTTP libraries and a headless browser.
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.4.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0.0.0",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/105.0.0.0",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
];

fn classify(c: &mut Criterion) {
    let woothee = woothee::parser::Parser::new();
    for ua in AGENTS {
        let ours = parse_user_agent(ua);
        let theirs = woothee.parse(ua).map(|r| (r.name, r.category, r.os));
        println!(
            "ours {:?} {:?} {} bot={} | woothee {:?} | {ua}",
            ours.browser, ours.os, ours.device, ours.is_bot, theirs
        );
    }
    let mut g = c.benchmark_group("user_agent");
    g.throughput(Throughput::Elements(AGENTS.len() as u64));
    g.bench_function("ringside", |b| {
        b.iter(|| {
            for ua in AGENTS {
                black_box(parse_user_agent(black_box(ua)));
            }
        })
    });
    g.bench_function("woothee", |b| {
        b.iter(|| {
            for ua in AGENTS {
                black_box(woothee.parse(black_box(ua)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);

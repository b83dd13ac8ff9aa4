//! What the fast path's kernel tests share: whether they can run here, and saying why not.

/// The effective user is root (`Uid:` of /proc/self/status: real, effective, ...).
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Why this build or host cannot load the program, if it cannot.
pub fn unavailable() -> Option<&'static str> {
    if !ringside_media::fastpath::BUILT {
        return Some("this build has no fast path program (no clang or libbpf-dev)");
    }
    if !root() {
        return Some("loading eBPF programs and making network namespaces need root");
    }
    None
}

/// Says why a test did not run. The test command sets `RINGSIDE_REQUIRE_FASTPATH=1`: there,
/// not running is a failure.
pub fn skip(why: &str) {
    assert!(
        std::env::var_os("RINGSIDE_REQUIRE_FASTPATH").is_none(),
        "RINGSIDE_REQUIRE_FASTPATH is set, yet {why}"
    );
    eprintln!("skipped: {why}");
}

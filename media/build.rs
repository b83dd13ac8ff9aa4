//! Builds the kernel fast path's eBPF program (bpf/relay.bpf.c) with clang when it can. A
//! machine without clang or libbpf's headers (libbpf-dev) builds everything else: the fast path
//! then reports itself unavailable and the userspace relay carries every call.
//!
//! `RINGSIDE_BPF_CLANG`: the clang to use (default `clang`); `RINGSIDE_NO_BPF=1`: do not build it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ringside_bpf)");
    println!("cargo::rerun-if-changed=bpf/relay.bpf.c");
    println!("cargo::rerun-if-env-changed=RINGSIDE_BPF_CLANG");
    println!("cargo::rerun-if-env-changed=RINGSIDE_NO_BPF");
    if std::env::var_os("RINGSIDE_NO_BPF").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    // The `asm/` headers the kernel's UAPI headers include live under the multiarch directory.
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        other => {
            println!("cargo::warning=kernel fast path not built: no BPF headers for {other}");
            return;
        }
    };
    let clang = std::env::var("RINGSIDE_BPF_CLANG").unwrap_or_else(|_| "clang".into());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("relay.bpf.o");
    let result = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .args(["-c", "bpf/relay.bpf.c", "-o"])
        .arg(&out)
        .output();
    match result {
        Ok(o) if o.status.success() => println!("cargo::rustc-cfg=ringside_bpf"),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let first = err.lines().next().unwrap_or("").trim();
            println!(
                "cargo::warning=kernel fast path not built ({clang} failed: {first}); \
                 install clang and libbpf-dev for it"
            );
        }
        Err(e) => println!(
            "cargo::warning=kernel fast path not built ({clang}: {e}); install clang and \
             libbpf-dev for it"
        ),
    }
}

//! Fuzzes `ringside_sip::message::parse`, the entry point for every UDP
//! datagram and every framed TCP message: it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ringside_sip::message::parse(data);
});

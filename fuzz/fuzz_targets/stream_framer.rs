//! Fuzzes the TCP stream framer: no panics, and feeding the input in chunks
//! (size chosen by the first byte) yields exactly the same frames and error
//! as feeding it all at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_sip::transport::{is_keepalive, Frame, FrameError, StreamFramer};

const MAX: usize = 16 * 1024;

fn run<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<Frame>, Option<FrameError>) {
    let mut framer = StreamFramer::new(MAX);
    let mut frames = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        loop {
            match framer.next_message() {
                Ok(Some(frame)) => {
                    if let Frame::Message(m) = &frame {
                        assert!(m.len() <= MAX, "framer returned an oversized message");
                    }
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let _ = is_keepalive(data);
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;
    let whole = run(std::iter::once(rest));
    let chunked = run(rest.chunks(chunk));
    assert_eq!(whole, chunked, "chunking changed the framing");
    for frame in &whole.0 {
        if let Frame::Message(m) = frame {
            let _ = ringside_sip::message::parse(m);
        }
    }
});

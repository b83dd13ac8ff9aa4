//! An interceptor that passes every packet through, both ways, and lets a [`Watch`] look at
//! each one on its way (and mark inbound ones): the edge's RTT meter and the video feedback
//! filter are both this shape.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{StreamInfo, TaggedPacket};

/// What a tap does with the packets passing it.
pub(super) trait Watch: Send + Sync + 'static {
    /// An inbound packet (network → application); may add attributes.
    fn read(&mut self, _msg: &mut TaggedPacket) {}
    /// An outbound packet (application → network).
    fn write(&mut self, _msg: &TaggedPacket) {}
}

/// The pass-through interceptor around a [`Watch`].
pub(super) struct Tap<W> {
    watch: W,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl<W: Watch> Tap<W> {
    pub fn new(watch: W) -> Self {
        Tap {
            watch,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

impl<W: Watch> rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for Tap<W> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        self.watch.read(&mut msg);
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.watch.write(&msg);
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl<W: Watch> rtc::interceptor::Interceptor for Tap<W> {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

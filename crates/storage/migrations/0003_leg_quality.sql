-- Per-leg media quality, measured by the media core (RTP receive statistics and RTCP).
ALTER TABLE call_legs ADD COLUMN rx_packets BIGINT;
ALTER TABLE call_legs ADD COLUMN rx_lost BIGINT;
ALTER TABLE call_legs ADD COLUMN jitter_us BIGINT;
ALTER TABLE call_legs ADD COLUMN rtt_us BIGINT;
ALTER TABLE call_legs ADD COLUMN tx_packets BIGINT;

-- SRTP passthrough (0/1) of one extension or trunk: when both legs of a call allow it and
-- both key their media with SDES, each leg is given the other's key, so Ringside forwards
-- the encrypted packets as they came instead of re-keying each leg.
ALTER TABLE extensions ADD COLUMN srtp_passthrough BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trunks ADD COLUMN srtp_passthrough BIGINT NOT NULL DEFAULT 0;

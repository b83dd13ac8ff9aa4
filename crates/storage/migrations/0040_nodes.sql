-- Cluster membership (issue 20): every `ringside serve` process writes its row at start and
-- heartbeats it; a node is alive while its heartbeat is recent. `instance` is random per
-- process, so a second live process under the same node id is told apart from a restart.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,
    http_addr   TEXT NOT NULL,
    sip_addr    TEXT NOT NULL,
    webrtc_addr TEXT NOT NULL,
    version     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    stopped_at  BIGINT
);

-- The node that held each call (NULL for calls stored before this migration).
ALTER TABLE calls ADD COLUMN node_id TEXT;

-- The node whose presence last wrote each visitor (the one holding their page's requests and
-- socket): commands for the visitor (direct-navigate) are routed there.
ALTER TABLE visitors ADD COLUMN node_id TEXT;

-- The node whose disk holds each recording's file (recordings are kept under a node's data
-- directory): only that node repairs it after a crash and deletes it when it expires.
ALTER TABLE recordings ADD COLUMN node_id TEXT;

-- A rule's daily summary is claimed by one node until this time (unix ms), so that two nodes
-- whose timers fall together do not both mail it.
ALTER TABLE alert_rules ADD COLUMN digest_claimed_until BIGINT;

-- Secrets every node must share (the SIP digest nonce secret, the link secret, the VAPID
-- key): made by the first node that needs one (from its data directory's file when it has
-- one, so a single node keeps its own), read by the others. Hex or PKCS#8 hex text.
CREATE TABLE shared_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);

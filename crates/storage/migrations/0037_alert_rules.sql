-- Alert rules (issue 19): which events, on which widgets, reach a user on which channel
-- (ntfy, Web Push, email). A rule belongs to the user who made it. The channel's settings are
-- JSON; its secret (an ntfy access token or user:password) is sealed by the API.
CREATE TABLE alert_rules (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    events        TEXT NOT NULL,
    widget_ids    TEXT,
    channel_type  TEXT NOT NULL,
    channel       TEXT NOT NULL,
    secret_sealed TEXT,
    quiet         TEXT,
    group_secs    BIGINT NOT NULL DEFAULT 60,
    enabled       BIGINT NOT NULL DEFAULT 1,
    failing       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id, user_id);

-- Integrations (issue 18): a tenant's order-status and helpdesk APIs the assistant may query
-- for a visitor who asked about an order or a ticket and gave its number and the email or
-- postcode on it; secrets sealed by the API. Every lookup (or refusal to look up) is logged
-- with the conversation it happened in.
CREATE TABLE integrations (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    name               TEXT NOT NULL,
    method             TEXT NOT NULL,
    url_template       TEXT NOT NULL,
    reference_pattern  TEXT NOT NULL,
    verifier           TEXT NOT NULL,
    match_field        TEXT,
    field_map          TEXT NOT NULL,
    auth_header_name   TEXT,
    auth_header_sealed TEXT,
    hmac_secret_sealed TEXT,
    enabled            BIGINT NOT NULL DEFAULT 1,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX integrations_tenant ON integrations (tenant_id, created_at);

CREATE TABLE lookup_log (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id       TEXT NOT NULL,
    visitor_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    integration_id  TEXT,
    kind            TEXT NOT NULL,
    reference       TEXT,
    outcome         TEXT NOT NULL,
    http_status     BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX lookup_log_conversation ON lookup_log (tenant_id, widget_id, conversation_id, created_at);

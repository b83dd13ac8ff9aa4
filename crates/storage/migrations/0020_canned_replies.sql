-- Canned replies (issue 15): the team's saved answers, inserted into a chat reply by their
-- shortcut. One shortcut per tenant.
CREATE TABLE canned_replies (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    shortcut   TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX canned_replies_shortcut ON canned_replies (tenant_id, shortcut);

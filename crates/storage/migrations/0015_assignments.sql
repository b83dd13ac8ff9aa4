-- Teams (issue 14): a visitor's conversation (chat) and a call can be assigned to one of the
-- tenant's users. Removing the user removes their assignments.
CREATE TABLE conversation_assignments (
    widget_id   TEXT NOT NULL,
    visitor_id  TEXT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_by TEXT,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (widget_id, visitor_id)
);
CREATE INDEX conversation_assignments_user ON conversation_assignments (tenant_id, user_id);

CREATE TABLE call_assignments (
    call_id     TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_by TEXT,
    assigned_at BIGINT NOT NULL
);
CREATE INDEX call_assignments_user ON call_assignments (tenant_id, user_id);

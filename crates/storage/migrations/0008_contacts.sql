-- Contacts (leads): people behind visitor sessions, with identity fields, the
-- visitor sessions attached to them and an audit of merges.
-- Same portability rules as 0001: TEXT uuid ids, BIGINT unix-ms times, lists
-- as JSON text.
--
-- contacts.status: lead | customer | qualified | disqualified | archived.
-- contacts.other_emails / other_phones: JSON arrays of further addresses and
-- numbers (a merge keeps the source's there when they differ).
-- contacts.merged_into: set when this contact was merged into another; such a
-- contact keeps its row (nothing is deleted) but is no longer listed.
-- contact_sessions: one row per (widget, visitor) session; a session belongs
-- to at most one contact.
-- contact_merges: every merge, with the source contact as it was (JSON) and
-- the sessions it brought.

CREATE TABLE contacts (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    first_name    TEXT,
    last_name     TEXT,
    email         TEXT,
    phone         TEXT,
    company_name  TEXT,
    status        TEXT NOT NULL,
    other_emails  TEXT NOT NULL,
    other_phones  TEXT NOT NULL,
    search_text   TEXT NOT NULL,
    merged_into   TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX contacts_tenant ON contacts (tenant_id, updated_at);
CREATE INDEX contacts_email ON contacts (tenant_id, email);
CREATE INDEX contacts_phone ON contacts (tenant_id, phone);

CREATE TABLE contact_sessions (
    widget_id   TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id  TEXT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    contact_id  TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    attached_at BIGINT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (widget_id, visitor_id)
);
CREATE INDEX contact_sessions_contact ON contact_sessions (contact_id, attached_at);

CREATE TABLE contact_merges (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    target_contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    source_contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    reason            TEXT NOT NULL,
    source_snapshot   TEXT NOT NULL,
    sessions_moved    BIGINT NOT NULL,
    merged_by_user_id TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX contact_merges_target ON contact_merges (target_contact_id, created_at);

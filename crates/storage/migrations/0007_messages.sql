-- Visitor chat messages, callback/lead submissions (with optional voice
-- notes) and operators' internal notes about a widget's visitors.
-- Same portability rules as 0001: TEXT uuid ids, BIGINT unix-ms times.
--
-- messages.sender: visitor | operator | automation | assistant;
-- author_user_id is set for operator messages sent through /api/v1.
-- callbacks.kind: callback | lead; fields is a JSON object of the submitted
-- form fields; voice_note_path is relative to the data directory.
-- notes.visibility: team | private (private notes are shown to their author only).

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id       TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    sender          TEXT NOT NULL,
    author_user_id  TEXT,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX messages_visitor ON messages (widget_id, visitor_id, created_at);

CREATE TABLE callbacks (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id               TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id              TEXT,
    kind                    TEXT NOT NULL,
    name                    TEXT,
    email                   TEXT,
    phone                   TEXT,
    message                 TEXT,
    fields                  TEXT NOT NULL,
    voice_note_path         TEXT,
    voice_note_content_type TEXT,
    voice_note_bytes        BIGINT,
    created_at              BIGINT NOT NULL
);
CREATE INDEX callbacks_widget ON callbacks (widget_id, created_at);

CREATE TABLE notes (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id      TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id     TEXT NOT NULL,
    author_user_id TEXT NOT NULL,
    body           TEXT NOT NULL,
    visibility     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX notes_visitor ON notes (widget_id, visitor_id, created_at);

-- Files sent in chats (issue 15), by visitors or operators: stored under the data directory
-- (`path` is relative to it), at most 10 MiB, of a few safe types; each is announced by a
-- chat message (`message_id`).
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id    TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id   TEXT NOT NULL,
    message_id   TEXT,
    sender       TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    path         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_visitor ON attachments (widget_id, visitor_id, created_at);

-- A visitor's callbacks and leads, for the chat page and a contact's timeline (the older
-- index is by widget and time only).
CREATE INDEX callbacks_visitor ON callbacks (widget_id, visitor_id, created_at);

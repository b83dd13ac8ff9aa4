-- Conversations as work (issue 15): one row per visitor chat (widget, visitor) with its state,
-- a preview of the last message, and how many visitor messages the team has not read.
-- Kept up to date by every stored message; the rows of chats older than this migration are
-- made here from their messages (state open, nothing unread).
--
-- state: open | pending | resolved | snoozed (snoozed_until set; past it, the chat counts
-- as open again). A visitor message reopens a resolved or snoozed chat.
-- unread: visitor messages since the team last read the chat or replied.
-- visitor_typing_at / team_typing_at are not stored: typing is live-only.

CREATE TABLE conversations (
    widget_id       TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id      TEXT NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    state           TEXT NOT NULL,
    snoozed_until   BIGINT,
    last_message_at BIGINT NOT NULL,
    last_sender     TEXT NOT NULL,
    last_body       TEXT NOT NULL,
    unread          BIGINT NOT NULL,
    message_count   BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (widget_id, visitor_id)
);
CREATE INDEX conversations_tenant ON conversations (tenant_id, last_message_at);
CREATE INDEX conversations_state ON conversations (tenant_id, state, last_message_at);
-- The inbox's counts per state read only this index.
CREATE INDEX conversations_counts ON conversations (tenant_id, state, unread);

INSERT INTO conversations (widget_id, visitor_id, tenant_id, state, snoozed_until,
    last_message_at, last_sender, last_body, unread, message_count, created_at, updated_at)
SELECT m.widget_id, m.visitor_id, m.tenant_id, 'open', NULL, m.created_at, m.sender,
    SUBSTR(m.body, 1, 200), 0,
    (SELECT COUNT(*) FROM messages c WHERE c.widget_id = m.widget_id AND c.visitor_id = m.visitor_id),
    (SELECT MIN(f.created_at) FROM messages f WHERE f.widget_id = m.widget_id AND f.visitor_id = m.visitor_id),
    m.created_at
FROM messages m
WHERE m.id = (SELECT l.id FROM messages l WHERE l.widget_id = m.widget_id
              AND l.visitor_id = m.visitor_id ORDER BY l.created_at DESC, l.id DESC LIMIT 1);

-- Whether a visitor's conversation has a message is asked on every chat message; without an
-- index naming the conversation SQLite answered it through (tenant_id, created_at), walking
-- every message of the tenant (found by the /widget/ask load run, BENCHMARKS.md).
CREATE INDEX messages_conversation ON messages (widget_id, visitor_id, conversation_id);

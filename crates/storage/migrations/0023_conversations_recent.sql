-- The inbox's order (latest activity first, ties by visitor and widget) as indexes, so a page
-- of a view is read in order and the scan stops at the page's end instead of sorting every
-- conversation of the tenant (SQLite 3.46 otherwise picks the counts index and sorts): one
-- for every state together, one per state (which replaces the older (tenant, state, time)).
CREATE INDEX conversations_recent ON conversations (tenant_id, last_message_at, visitor_id, widget_id);
DROP INDEX conversations_state;
CREATE INDEX conversations_state_recent ON conversations (tenant_id, state, last_message_at, visitor_id, widget_id);

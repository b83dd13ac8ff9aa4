-- The conversation's assignee kept on its row too (the inbox counts "mine" and "unassigned"
-- from the conversations index instead of one lookup per assignment). The assignment writes
-- keep it in step; removing the user clears it, as it removes the assignment.
ALTER TABLE conversations ADD COLUMN assignee_id TEXT REFERENCES users (id) ON DELETE SET NULL;
UPDATE conversations SET assignee_id = (
    SELECT a.user_id FROM conversation_assignments a
    WHERE a.widget_id = conversations.widget_id AND a.visitor_id = conversations.visitor_id
);
DROP INDEX conversations_counts;
CREATE INDEX conversations_counts ON conversations (tenant_id, state, unread, assignee_id);

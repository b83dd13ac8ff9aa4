-- Browser calls belong to a widget and a visitor; every call may say who answered it.
ALTER TABLE calls ADD COLUMN widget_id TEXT;
ALTER TABLE calls ADD COLUMN visitor_id TEXT;
ALTER TABLE calls ADD COLUMN answered_by TEXT;
CREATE INDEX calls_widget_started ON calls (widget_id, started_at);

-- Business hours per widget (issue 15): when the team answers. Outside them the widget shows
-- its offline form and says when the team is back. `settings` is a JSON object
-- {"enabled", "timeZone", "intervals": [{"day": "mon".."sun", "open": "HH:MM", "close": "HH:MM"}]};
-- a widget without a row has no hours (always open).
CREATE TABLE widget_hours (
    widget_id  TEXT PRIMARY KEY REFERENCES widgets (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

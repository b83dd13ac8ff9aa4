-- Teams (issue 14): an agent can be given some of the tenant's widgets; they then see only
-- those. widget_scope: 'all' (every widget of the tenant) or 'some' (those in user_widgets).
ALTER TABLE users ADD COLUMN widget_scope TEXT NOT NULL DEFAULT 'all';
CREATE TABLE user_widgets (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    widget_id TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, widget_id)
);

-- The assistant of a widget (issue 18): its name and tone of voice, what it may use (the
-- tenant's AI provider, order and ticket lookups), and when it hands a conversation to the
-- team. One per widget; a widget without one gets the defaults.
CREATE TABLE assistants (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id               TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    name                    TEXT NOT NULL,
    tone                    TEXT,
    handover_on_request     BIGINT NOT NULL DEFAULT 1,
    handover_low_confidence BIGINT NOT NULL DEFAULT 1,
    handover_hours_only     BIGINT NOT NULL DEFAULT 0,
    use_model               BIGINT NOT NULL DEFAULT 1,
    use_lookups             BIGINT NOT NULL DEFAULT 1,
    enabled                 BIGINT NOT NULL DEFAULT 1,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE UNIQUE INDEX assistants_widget ON assistants (widget_id);

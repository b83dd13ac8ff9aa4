-- How a widget's browser calls are delivered: ring timeout, recording, PSTN forward numbers and
-- the outbound trunk, the widget's PBX queue number. One JSON document per widget.
CREATE TABLE widget_call_settings (
    widget_id  TEXT PRIMARY KEY REFERENCES widgets (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

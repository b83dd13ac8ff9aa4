-- Human-readable aliases for campaign tag values of a widget's visitors
-- (e.g. utm_campaign = "spring-demo" shown as "Spring demo ads").
-- tag_key: utm_source | utm_medium | utm_campaign | utm_term | utm_content | referrer.

CREATE TABLE campaign_aliases (
    widget_id  TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    tag_key    TEXT NOT NULL,
    tag_value  TEXT NOT NULL,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    alias      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (widget_id, tag_key, tag_value)
);

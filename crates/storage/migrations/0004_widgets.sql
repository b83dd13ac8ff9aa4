-- Website widgets: what a site owner embeds with one script tag.
-- Same portability rules as 0001: TEXT uuid ids, BIGINT unix-ms times, TEXT
-- columns holding JSON for lists and small objects.
--
-- public_key identifies the widget to the public runtime together with its
-- id (`wk_` + 32 random characters); it is not a secret from visitors (it
-- sits in the page) but it is unguessable, so widget ids alone are useless.
-- allowed_domains: JSON array of host patterns (`example.com`,
-- `*.example.com`, `shop.example.com:8443`); an empty list allows nothing.
-- offline_form: JSON object {enabled, fields, message}.
-- lead_form: JSON object {fields, prompt}, NULL when no form is assigned.

CREATE TABLE widgets (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    public_key        TEXT NOT NULL UNIQUE,
    allowed_domains   TEXT NOT NULL,
    greeting          TEXT NOT NULL,
    agent_name        TEXT NOT NULL,
    agent_title       TEXT NOT NULL,
    input_placeholder TEXT NOT NULL,
    primary_color     TEXT NOT NULL,
    position          TEXT NOT NULL,
    avatar_url        TEXT,
    logo_url          TEXT,
    offline_form      TEXT NOT NULL,
    lead_form         TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX widgets_tenant ON widgets (tenant_id, created_at);

-- A tenant's AI provider (issue 18): an OpenAI-compatible chat-completions endpoint with
-- its model and API key (sealed by the API: never stored in the clear), the tenant's monthly
-- allowance, and every model answer's token counts (what the allowance and the usage
-- report count).
CREATE TABLE ai_providers (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    base_url         TEXT NOT NULL,
    model            TEXT NOT NULL,
    api_version      TEXT,
    api_key_sealed   TEXT,
    monthly_messages BIGINT NOT NULL DEFAULT 0,
    monthly_tokens   BIGINT NOT NULL DEFAULT 0,
    enabled          BIGINT NOT NULL DEFAULT 1,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE ai_usage (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id         TEXT,
    conversation_id   TEXT,
    model             TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL
);
CREATE INDEX ai_usage_tenant ON ai_usage (tenant_id, created_at);

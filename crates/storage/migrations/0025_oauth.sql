-- OAuth 2.1 authorization server (issue 16): AI agents' MCP clients get short-lived access
-- tokens for /mcp through the authorization code flow with PKCE. Only SHA-256 hashes of codes,
-- tokens and client secrets are stored.

-- Clients: registered dynamically (RFC 7591; id random) or known by their Client ID Metadata
-- Document (id is the document's https URL; the row caches what the document said).
CREATE TABLE oauth_clients (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    client_uri    TEXT,
    redirect_uris TEXT NOT NULL,
    auth_method   TEXT NOT NULL,
    secret_hash   TEXT,
    created_at    BIGINT NOT NULL,
    fetched_at    BIGINT NOT NULL
);

-- A grant: one user's consent to one client, with its scopes, bound to one resource. Its
-- tokens die with it; a refresh token used twice revokes it (the whole token family).
CREATE TABLE oauth_grants (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scopes       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX oauth_grants_tenant ON oauth_grants (tenant_id, created_at);

-- Authorization codes: one use, a few minutes. grant_id is the grant the code makes, fixed
-- when the code is made, so a replayed code can revoke what the first use issued.
CREATE TABLE oauth_codes (
    code_hash    TEXT PRIMARY KEY,
    grant_id     TEXT NOT NULL,
    client_id    TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    challenge    TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

-- Access and refresh tokens of a grant. A refresh token is used once (used_at), then
-- replaced by a new pair.
CREATE TABLE oauth_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);

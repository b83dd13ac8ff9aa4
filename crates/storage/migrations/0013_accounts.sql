-- Accounts (issue 14): a user's role in their tenant, email one-time sign-in codes and
-- dashboard sessions. Every user who exists already is the owner of their tenant.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';

-- One-time sign-in codes. Only a SHA-256 of (code id, email, code) is stored; a code is good
-- for one sign-in, until expires_at, and for a few wrong tries.
CREATE TABLE email_codes (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT
);
CREATE INDEX email_codes_email ON email_codes (email, created_at);

-- Dashboard sessions. The cookie carries a random secret; only its SHA-256 is stored.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

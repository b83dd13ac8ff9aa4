-- Ringside initial schema.
-- Never edit a migration once released: sqlx checks their checksums.
-- Add a new numbered file (0002_....sql) instead.
--
-- Portable between SQLite and PostgreSQL: TEXT ids (uuid v4 strings), BIGINT
-- unix-millisecond times, BIGINT 0/1 booleans, TEXT columns holding JSON
-- arrays for lists. No AUTOINCREMENT / SERIAL.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email      TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id);

-- Personal access tokens. Only the SHA-256 hex hash of the token is stored.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX tokens_tenant ON tokens (tenant_id, created_at);

-- SIP extensions. The username is unique across the whole server.
CREATE TABLE extensions (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    realm        TEXT NOT NULL,
    ha1_md5      TEXT NOT NULL,
    ha1_sha256   TEXT NOT NULL,
    widget_ids   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX extensions_tenant ON extensions (tenant_id, created_at);

-- SIP trunks. inbound_username is unique when set (NULLs never collide).
CREATE TABLE trunks (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    inbound_cidrs        TEXT NOT NULL,
    inbound_username     TEXT UNIQUE,
    inbound_realm        TEXT,
    inbound_ha1_md5      TEXT,
    inbound_ha1_sha256   TEXT,
    outbound_host        TEXT,
    outbound_port        BIGINT,
    outbound_transport   TEXT,
    outbound_username    TEXT,
    outbound_password    TEXT,
    allowed_destinations TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX trunks_tenant ON trunks (tenant_id, created_at);

-- SIP registrations (bindings), persisted so a restart keeps them.
CREATE TABLE bindings (
    extension_id TEXT NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    contact_uri  TEXT NOT NULL,
    source_addr  TEXT NOT NULL,
    transport    TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    call_id      TEXT NOT NULL,
    cseq         BIGINT NOT NULL,
    user_agent   TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (extension_id, contact_uri)
);
CREATE INDEX bindings_expires ON bindings (expires_at);

-- Call detail records.
CREATE TABLE calls (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    from_uri    TEXT NOT NULL,
    to_uri      TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at    BIGINT,
    end_reason  TEXT,
    hangup_side TEXT
);
CREATE INDEX calls_tenant_started ON calls (tenant_id, started_at);

CREATE TABLE call_legs (
    id           TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    idx          BIGINT NOT NULL,
    role         TEXT NOT NULL,
    sip_call_id  TEXT NOT NULL,
    local_tag    TEXT NOT NULL,
    remote_tag   TEXT,
    peer         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    answered_at  BIGINT,
    ended_at     BIGINT,
    final_status BIGINT
);
CREATE INDEX call_legs_call ON call_legs (call_id, idx);

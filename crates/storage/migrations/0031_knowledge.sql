-- The knowledge base (issue 18): a widget's sources (pages by URL, a site by its sitemap,
-- text, question/answer pairs, uploaded documents), the passages each gives (the text the
-- search index is built from: the database is the source of truth, the tantivy index under
-- the data directory is derived from it and rebuilt where it differs), the pages a crawl
-- fetched or skipped, and a company profile per widget.
CREATE TABLE knowledge_sources (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id  TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    url        TEXT,
    title      TEXT,
    question   TEXT,
    answer     TEXT,
    body       TEXT,
    file_name  TEXT,
    lang       TEXT,
    status     TEXT NOT NULL,
    reason     TEXT,
    passages   BIGINT NOT NULL DEFAULT 0,
    pages      BIGINT NOT NULL DEFAULT 0,
    bytes      BIGINT NOT NULL DEFAULT 0,
    version    BIGINT NOT NULL DEFAULT 0,
    claimed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    indexed_at BIGINT
);
CREATE INDEX knowledge_sources_widget ON knowledge_sources (widget_id, created_at);
CREATE INDEX knowledge_sources_status ON knowledge_sources (status, updated_at);

CREATE TABLE knowledge_passages (
    id        TEXT PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES knowledge_sources (id) ON DELETE CASCADE,
    ord       BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    url       TEXT,
    title     TEXT NOT NULL,
    body      TEXT NOT NULL,
    lang      TEXT NOT NULL
);
CREATE INDEX knowledge_passages_source ON knowledge_passages (source_id, ord);

CREATE TABLE knowledge_pages (
    source_id    TEXT NOT NULL REFERENCES knowledge_sources (id) ON DELETE CASCADE,
    url          TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    title        TEXT,
    bytes        BIGINT NOT NULL DEFAULT 0,
    content_hash TEXT,
    fetched_at   BIGINT NOT NULL,
    PRIMARY KEY (source_id, url)
);

CREATE TABLE knowledge_profiles (
    widget_id  TEXT PRIMARY KEY REFERENCES widgets (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    profile    TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

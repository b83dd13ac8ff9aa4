-- Account usage: indexes for the per-tenant period counts, and the usage
-- alerts already sent (one usage.updated event per metric, period and
-- threshold).

CREATE INDEX messages_tenant_created ON messages (tenant_id, created_at);
CREATE INDEX callbacks_tenant_created ON callbacks (tenant_id, created_at);
CREATE INDEX visitors_tenant_first_seen ON visitors (tenant_id, first_seen_at);

CREATE TABLE usage_alerts (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    metric       TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    threshold    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, metric, period_start, threshold)
);

-- Signed webhooks and their durable delivery outbox.
-- Same portability rules as 0001: TEXT uuid ids, BIGINT unix-ms times,
-- BIGINT 0/1 booleans, TEXT columns holding JSON lists.
--
-- webhooks.events: JSON array of event types; widget_ids: JSON array of the
-- tenant's widget ids, empty = every widget. secret: the HMAC key, shown to
-- the API caller only on create and rotate. disabled_reason says why
-- enabled = 0 (e.g. the receiver answered 410 Gone).
--
-- webhook_deliveries is the outbox: one row per (event, webhook), written
-- when the event happens. Its id is the delivery UUID sent as
-- X-Ringside-Delivery and kept across retries. status: pending | delivered
-- | failed (retries exhausted) | abandoned (receiver gone). A pending row is
-- due when next_attempt_at <= now; claiming it pushes next_attempt_at
-- forward by a lease, so a crash mid-attempt only delays a redelivery
-- (at-least-once). payload: the event's `data` object as JSON text.

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    widget_ids      TEXT NOT NULL,
    secret          TEXT NOT NULL,
    enabled         BIGINT NOT NULL,
    disabled_reason TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);

-- Alerts queued for delivery (issue 19), in the same transaction as the webhook outbox rows of
-- the event that caused them. One row is one message to send: the first event of a burst
-- alone (due at once), or the ones after it within the rule's grouping window together (due
-- when the window closes; `event_count` and `payload` grow until then). `due_at` is when it was
-- first due: a row whose `next_attempt_at` still equals it, never tried, is still collecting.
CREATE TABLE alert_deliveries (
    id               TEXT PRIMARY KEY,
    rule_id          TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    widget_id        TEXT,
    payload          TEXT NOT NULL,
    event_count      BIGINT NOT NULL DEFAULT 1,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    due_at           BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at);
CREATE INDEX alert_deliveries_rule ON alert_deliveries (rule_id, event_type, created_at);

-- Website visitors seen by widgets (live presence) and their activity log.
-- Same portability rules as 0001: TEXT ids, BIGINT unix-ms times, BIGINT 0/1
-- booleans, TEXT holding JSON for metadata and event data.
--
-- visitors: one row per (widget, client-generated visitor id), written in
-- batches by the API's in-memory presence (multi-row upserts).
-- visitor_events: interaction events (page views and changes, scrolls, clicks,
-- form changes, ...); heartbeats are not logged.

CREATE TABLE visitors (
    widget_id                  TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id                 TEXT NOT NULL,
    tenant_id                  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id                 TEXT,
    first_seen_at              BIGINT NOT NULL,
    last_seen_at               BIGINT NOT NULL,
    previous_seen_at           BIGINT,
    visit_count                BIGINT NOT NULL,
    current_session_started_at BIGINT NOT NULL,
    current_page_started_at    BIGINT,
    last_interaction_at        BIGINT,
    session_event_count        BIGINT NOT NULL,
    current_url                TEXT,
    page_title                 TEXT,
    referrer                   TEXT,
    ip                         TEXT,
    user_agent                 TEXT,
    browser                    TEXT,
    os                         TEXT,
    device                     TEXT,
    is_bot                     BIGINT NOT NULL,
    utm_source                 TEXT,
    utm_medium                 TEXT,
    utm_campaign               TEXT,
    utm_term                   TEXT,
    utm_content                TEXT,
    gclid                      TEXT,
    fbclid                     TEXT,
    metadata                   TEXT NOT NULL,
    PRIMARY KEY (widget_id, visitor_id)
);
CREATE INDEX visitors_live ON visitors (widget_id, last_seen_at);

CREATE TABLE visitor_events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    widget_id  TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    visitor_id TEXT NOT NULL,
    type       TEXT NOT NULL,
    url        TEXT,
    at         BIGINT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX visitor_events_visitor ON visitor_events (widget_id, visitor_id, at);

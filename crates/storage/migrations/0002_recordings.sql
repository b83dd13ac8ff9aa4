-- Call recordings: one WAV file per recording, stored under the data
-- directory at `path` (relative, e.g. recordings/<tenant>/<id>.wav).
-- Same portability rules as 0001: TEXT uuid ids, BIGINT unix-ms times.
--
-- status: 'recording' while the file is being written (the row exists from
-- the first sample on, so a crash leaves a row to repair), 'complete' once
-- finished, 'repaired' when recovered after a crash. Deleting a recording
-- deletes its row (and, in the API, its file).
-- Rows go with their call and tenant (ON DELETE CASCADE); whoever deletes
-- those must remove the files.

CREATE TABLE recordings (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    call_id     TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    path        TEXT NOT NULL UNIQUE,
    format      TEXT NOT NULL,
    sample_rate BIGINT NOT NULL,
    channels    BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    status      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX recordings_call ON recordings (call_id, started_at);
CREATE INDEX recordings_tenant ON recordings (tenant_id, started_at);
CREATE INDEX recordings_status ON recordings (status);
CREATE INDEX recordings_ended ON recordings (ended_at);

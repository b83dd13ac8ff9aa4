-- Visits started per widget and UTC day (issue 15's visits-over-time chart). `visitors`
-- keeps only each visitor's latest visit, so the chart needs its own counter: the presence
-- flusher adds the visits it saw start in the same transaction as the visitors it writes.
CREATE TABLE visit_days (
    widget_id TEXT NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
    day       BIGINT NOT NULL,
    visits    BIGINT NOT NULL,
    PRIMARY KEY (widget_id, day)
);

-- What can be known of the past: each visitor's latest visit, on the day it started.
INSERT INTO visit_days (widget_id, day, visits)
SELECT widget_id, current_session_started_at - (current_session_started_at % 86400000), COUNT(*)
FROM visitors
WHERE current_session_started_at >= 0
GROUP BY widget_id, current_session_started_at - (current_session_started_at % 86400000);

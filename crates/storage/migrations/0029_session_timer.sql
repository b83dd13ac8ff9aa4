-- Session timer (RFC 4028) Ringside asks for on calls to one extension or trunk, in seconds
-- (90..86400); NULL: none.
ALTER TABLE extensions ADD COLUMN session_timer_secs INTEGER;
ALTER TABLE trunks ADD COLUMN session_timer_secs INTEGER;

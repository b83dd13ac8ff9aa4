-- The Path (RFC 3327) a registration came with: the edge proxies requests for the phone go
-- back through, one URI per line, top first (NULL: none, the phone is reached directly).
ALTER TABLE bindings ADD COLUMN path TEXT;

-- Digest algorithms of one extension or inbound trunk login, in challenge order
-- (comma-separated `MD5` / `SHA-256`); NULL: the server's setting.
ALTER TABLE extensions ADD COLUMN digest_algorithms TEXT;
ALTER TABLE trunks ADD COLUMN digest_algorithms TEXT;

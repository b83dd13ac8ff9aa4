-- SRTP policy of one extension or trunk on its SIP leg: `off`, `optional` or `required`;
-- NULL: the default (`optional`: SRTP when the peer offers or accepts it).
ALTER TABLE extensions ADD COLUMN srtp TEXT;
ALTER TABLE trunks ADD COLUMN srtp TEXT;

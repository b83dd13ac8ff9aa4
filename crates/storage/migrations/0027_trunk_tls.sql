-- SIP over TLS towards a trunk: the CA certificates its server certificate must chain to
-- (PEM; NULL: the system's roots), and the client certificate chain and private key Ringside
-- presents when the peer asks for one (PEM; NULL: none).
ALTER TABLE trunks ADD COLUMN tls_ca_pem TEXT;
ALTER TABLE trunks ADD COLUMN tls_client_cert_pem TEXT;
ALTER TABLE trunks ADD COLUMN tls_client_key_pem TEXT;

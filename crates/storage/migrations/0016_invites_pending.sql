-- One pending invitation per email and tenant: a new one withdraws the old one first, and this
-- index makes two made at once unable to both stay pending. Older duplicates (from such a
-- race) are withdrawn first, keeping the newest.
UPDATE invites SET revoked_at = created_at
WHERE accepted_at IS NULL AND revoked_at IS NULL
  AND EXISTS (
    SELECT 1 FROM invites newer
    WHERE newer.tenant_id = invites.tenant_id AND newer.email = invites.email
      AND newer.accepted_at IS NULL AND newer.revoked_at IS NULL
      AND (newer.created_at > invites.created_at
           OR (newer.created_at = invites.created_at AND newer.id > invites.id))
  );
CREATE UNIQUE INDEX invites_pending ON invites (tenant_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- A mail's bytes as they go over SMTP (adapters/mail_format.py), written once when the delivery is
-- planned, so that sending does no MIME work. They hold what `address`, `subject`, `body`, `html` and
-- `attachment` hold, so they are personal data: kept only until the delivery is settled (delivered
-- or failed empties them), and emptied by an erasure and by the retention purge like the rest of the
-- content. NULL: written when sent (a webhook has none).
ALTER TABLE deliveries ADD COLUMN mime bytea;

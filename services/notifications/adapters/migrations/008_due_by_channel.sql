-- Due mail and due chat messages apart: the delivery loop looks for each on its own (at most the mail
-- server's room of mail, and webhooks to endpoints with room; adapters/repository.py, `lock_due`), so a
-- backlog of one is never scanned while looking for the other.
CREATE INDEX deliveries_due_mail ON deliveries (not_before) WHERE status = 'pending' AND channel = 'email';
CREATE INDEX deliveries_due_chat ON deliveries (not_before) WHERE status = 'pending' AND channel <> 'email';

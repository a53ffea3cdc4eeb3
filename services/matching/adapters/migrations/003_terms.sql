-- A relationship's term (services/matching/domain/model.py): when both were told its end is
-- coming; the end itself is the status. The term loop reads the active relationships in order.
ALTER TABLE relationships ADD COLUMN end_notice_at timestamptz;
CREATE INDEX relationships_active_since ON relationships (established_at) WHERE status = 'active';

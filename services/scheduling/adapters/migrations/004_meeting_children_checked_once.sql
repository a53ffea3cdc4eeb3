-- Bookings and reminders no longer look their meeting up row by row; a meeting still cannot go
-- (or change its id) while any of them names it.
--
-- The foreign keys bookings.meeting_id and reminders.meeting_id -> meetings ran a lookup and a row
-- lock on the meeting for each of the four rows a kickoff writes: about a sixth of Postgres' time
-- per kickoff. What they guarded on insert, every insert already guarantees in its own transaction
-- (adapters/repository.py, the only writer): bookings and reminders are written only
--   * for meetings inserted earlier in the same transaction (MeetingRepository.add / add_new, then
--     ReminderRepository.add / add_new for the same meetings), which no other transaction can see,
--     let alone remove; or
--   * for a meeting read FOR NO KEY UPDATE earlier in the same transaction (a move or a
--     cancellation: MeetingRepository.save, ReminderRepository.add after it), which no other
--     transaction can delete or re-key until this one ends.
-- What they guarded afterwards, that a meeting with bookings or reminders is not removed or given
-- another id, the triggers below keep, at no cost to inserts. A delete waits for a transaction
-- that holds the meeting (the row lock above), then its check sees that one's rows.
ALTER TABLE bookings DROP CONSTRAINT bookings_meeting_id_fkey;
ALTER TABLE reminders DROP CONSTRAINT reminders_meeting_id_fkey;

CREATE FUNCTION meetings_removed_without_children() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        -- Truncated together with bookings and reminders (as the foreign keys required), they are empty.
        IF EXISTS (SELECT 1 FROM bookings) OR EXISTS (SELECT 1 FROM reminders) THEN
            RAISE EXCEPTION 'meetings truncated while bookings or reminders remain'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM removed JOIN bookings USING (meeting_id))
       OR EXISTS (SELECT 1 FROM removed JOIN reminders USING (meeting_id)) THEN
        RAISE EXCEPTION 'a meeting with bookings or reminders cannot be deleted'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER meetings_deleted_without_children AFTER DELETE ON meetings
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION meetings_removed_without_children();
CREATE TRIGGER meetings_truncated_without_children AFTER TRUNCATE ON meetings
    FOR EACH STATEMENT EXECUTE FUNCTION meetings_removed_without_children();

-- A meeting's id never changes (its bookings, reminders, invites and pages name it). Fires only for
-- an UPDATE that sets meeting_id, which no path does.
CREATE FUNCTION meeting_id_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.meeting_id IS DISTINCT FROM OLD.meeting_id THEN
        RAISE EXCEPTION 'a meeting keeps its id' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER meeting_id_kept BEFORE UPDATE OF meeting_id ON meetings
    FOR EACH ROW EXECUTE FUNCTION meeting_id_kept();

-- The double-booking backstop, as strict as before and about a third of the cost to write.
--
-- `no_double_booking` refused two bookings of the same participant_id whose times overlap. Its
-- GiST index led with the text column, and btree_gist's text keys made every insert weigh each
-- entry of every page it passed by comparing and merging strings: about 40 µs per booking, two per
-- meeting, a third of Postgres' time per kickoff. Led by the id's 64-bit hash, the index chooses
-- pages on integers and only looks at the text where two hashes are equal.
--
-- The constraint is the same set of forbidden pairs: two rows conflict when their hashes are equal
-- AND their participant_ids are equal AND their times overlap. Equal ids always have equal hashes,
-- so the hash adds nothing to refuse and nothing to allow; it is there for the index only (and
-- hashtextextended is immutable, as a constraint's expression must be). Like any exclusion
-- constraint it holds across every connection and replica: a second transaction inserting an
-- overlapping booking waits for the first, then fails.
--
-- Readers of busy times (adapters/repository.py) match the hash too, so they use this index.
ALTER TABLE bookings DROP CONSTRAINT no_double_booking;
ALTER TABLE bookings ADD CONSTRAINT no_double_booking
    EXCLUDE USING gist ((hashtextextended(participant_id, 0)) WITH =, participant_id WITH =, during WITH &&);

-- Each pair's mentoring agreement as scheduling keeps it (services/scheduling/domain/agreements.py):
-- how often, how long and where they meet; the rest of relationship.agreement.recorded is not
-- scheduling's to keep. One row per pair: the latest recorded_at of either person stands.
CREATE TABLE agreements (
    relationship_id   text PRIMARY KEY REFERENCES series,
    recorded_by       text NOT NULL,
    cadence_days      int NOT NULL,
    duration_minutes  int NOT NULL,
    place             text NOT NULL CHECK (place IN ('video', 'phone', 'in_person')),
    place_details     text,  -- a room, an address, a number: for the pair only
    recorded_at       timestamptz NOT NULL
);

ALTER TABLE meetings
    -- The cadence in force when it was planned: the next occurrences count from the first meeting
    -- placed at the cadence in force then. NULL for meetings planned before it was kept.
    ADD COLUMN cadence_days  int,
    ADD COLUMN place         text CHECK (place IN ('video', 'phone', 'in_person')),
    ADD COLUMN location      text,  -- the video link, or where they meet (the invite's LOCATION)
    -- The invite's ORGANIZER, kept for the meeting's whole life so its updates and cancellation
    -- come from the same address. NULL: the address invites had before (invites.TANDEM).
    ADD COLUMN organizer     text,
    -- The other starts offered with its latest announcement (meeting.scheduled/rescheduled).
    ADD COLUMN offered       timestamptz[] NOT NULL DEFAULT '{}';

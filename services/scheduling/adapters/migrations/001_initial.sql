-- Scheduling's own tables. People and pairs come from the shared replicas (shared/sql):
-- `participants` and `pairs`, applied before this file.

-- Each pair's series as scheduling follows it (services/scheduling/domain/model.py: Series).
CREATE TABLE series (
    relationship_id   text PRIMARY KEY REFERENCES pairs,
    occurrences       int NOT NULL,  -- meetings in the series, kickoff included
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'unschedulable', 'ended')),
    reason            text,
    planned           int NOT NULL DEFAULT 0,  -- the latest occurrence planned (placed or unplaceable)
    plan_next_at      timestamptz  -- the latest occurrence's end: the next one is planned then
);
-- The series loop claims due rows with FOR NO KEY UPDATE SKIP LOCKED, earliest first.
CREATE INDEX series_due ON series (plan_next_at) WHERE status = 'active' AND plan_next_at IS NOT NULL;

CREATE TABLE meetings (
    meeting_id       text PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES series,
    program_id       text NOT NULL,
    occurrence       int NOT NULL,
    mentor_id        text NOT NULL,
    mentee_id        text NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'scheduled'
                     CHECK (status IN ('scheduled', 'cancelled', 'completed', 'missed', 'unplaceable')),
    sequence         int NOT NULL DEFAULT 0,
    reason           text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (relationship_id, occurrence)
);

-- Who is busy when: one row per person per meeting that holds their time (scheduled, completed or
-- missed), kept in the same transaction as the meeting. The planner reads busy times from here.
-- Per-person advisory locks keep two paths from booking one person at once (adapters/locks.py);
-- the exclusion constraint is the backstop that refuses an overlapping booking should a path
-- ever forget them.
CREATE EXTENSION IF NOT EXISTS btree_gist;  -- text equality inside a GiST index
CREATE TABLE bookings (
    meeting_id      text NOT NULL REFERENCES meetings,
    participant_id  text NOT NULL,
    during          tstzrange NOT NULL,
    PRIMARY KEY (meeting_id, participant_id),
    CONSTRAINT no_double_booking EXCLUDE USING gist (participant_id WITH =, during WITH &&)
);

-- Durable reminders: created, moved and dropped in the same transaction as their meeting.
-- The columns the dispatcher needs are copied here so firing a batch touches one table.
CREATE TABLE reminders (
    reminder_id      text PRIMARY KEY,
    meeting_id       text NOT NULL REFERENCES meetings,
    relationship_id  text NOT NULL,
    participant_ids  text[] NOT NULL,
    meeting_start    timestamptz NOT NULL,
    minutes_before   int NOT NULL,
    due_at           timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'late', 'cancelled')),
    fired_at         timestamptz
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'pending';
CREATE INDEX reminders_meeting ON reminders (meeting_id);

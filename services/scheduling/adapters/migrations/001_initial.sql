CREATE TABLE profiles (
    participant_id  text PRIMARY KEY,
    profile         jsonb NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE relationships (
    relationship_id   text PRIMARY KEY,
    program_id        text NOT NULL,
    mentor_id         text NOT NULL,
    mentee_id         text NOT NULL,
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended', 'unschedulable')),
    cadence_days      int NOT NULL,
    duration_minutes  int NOT NULL,
    established_at    timestamptz NOT NULL,
    reason            text
);

CREATE TABLE meetings (
    meeting_id       text PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES relationships,
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
CREATE INDEX meetings_mentor ON meetings (mentor_id, starts_at) WHERE status = 'scheduled';
CREATE INDEX meetings_mentee ON meetings (mentee_id, starts_at) WHERE status = 'scheduled';

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

-- What the pages behind participants' action links show and check, kept from the events this service
-- already reads (services/notifications/adapters/subjects.py). No page reads another service's schema.

-- Proposals to mentors (matches.v1): who may answer, until when, and whether it is still open.
CREATE TABLE proposals (
    proposal_id  text PRIMARY KEY,
    program_id   text NOT NULL,
    mentor_id    text NOT NULL,
    mentee_id    text NOT NULL,
    expires_at   timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'established', 'declined', 'expired'))
);

-- Meetings (meetings.v1): when, the offered other times, where.
CREATE TABLE meetings (
    meeting_id       text PRIMARY KEY,
    relationship_id  text NOT NULL,
    mentor_id        text NOT NULL,
    mentee_id        text NOT NULL,
    kind             text NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    sequence         int NOT NULL,
    alternatives     timestamptz[] NOT NULL DEFAULT '{}',
    place            text,
    location         text,
    -- over: its attendance is recorded (meeting.completed / meeting.missed)
    status           text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'cancelled', 'over')),
    -- Once it is over, both are asked whether it took place (service_layer/attendance.py).
    attendance_asked boolean NOT NULL DEFAULT false
);
CREATE INDEX meetings_relationship ON meetings (relationship_id);
CREATE INDEX meetings_to_ask ON meetings (ends_at) WHERE status = 'planned' AND NOT attendance_asked;

-- Feedback requests (feedback.v1): one person asked about one meeting, check-in or the closure.
CREATE TABLE feedback_requests (
    request_id       text PRIMARY KEY,
    relationship_id  text NOT NULL,
    participant_id   text NOT NULL,
    kind             text NOT NULL,
    meeting_id       text,
    due_at           timestamptz NOT NULL
);

-- A pair's mentoring agreement as last recorded (relationship-commands.v1), to fill the other's form.
CREATE TABLE agreements (
    relationship_id  text PRIMARY KEY,
    participant_id   text NOT NULL,
    terms            jsonb NOT NULL,
    recorded_at      timestamptz NOT NULL
);

-- Acts done through a link, once per binding (person, subject, action): a second click or a replayed
-- form finds its row and is told it is already done; the command it published has `command_id`.
CREATE TABLE link_acts (
    binding      text PRIMARY KEY,
    choice       text NOT NULL,
    command_id   text NOT NULL,
    done_at      timestamptz NOT NULL
);

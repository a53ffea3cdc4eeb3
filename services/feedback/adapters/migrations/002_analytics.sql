-- The program team's read model (services/feedback/adapters/analytics.py): one row per fact taken
-- from the public topics, keyed by the fact's own id, so a redelivered event changes nothing.
-- Numbers are aggregated when read: per region (joined to the participants replica) and per day
-- (in the program's zone as configured then), so late or reordered events land where they belong.

-- When each person joined (participant.onboarded's event time): the start of time to match.
CREATE TABLE analytics_onboardings (
    participant_id  text PRIMARY KEY,
    program_id      text NOT NULL,
    onboarded_at    timestamptz NOT NULL
);
CREATE INDEX analytics_onboardings_program ON analytics_onboardings (program_id);

-- Every proposal matching made and how it ended. match.established may overtake match.proposed
-- (different keys), so a row can start closed; a late proposal fills in only what is missing.
CREATE TABLE analytics_proposals (
    proposal_id  text PRIMARY KEY,
    program_id   text NOT NULL,
    mentee_id    text NOT NULL,
    mentor_id    text NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'accepted', 'declined', 'expired')),
    proposed_at  timestamptz,
    closed_at    timestamptz
);
CREATE INDEX analytics_proposals_program ON analytics_proposals (program_id, status);
CREATE INDEX analytics_proposals_mentee ON analytics_proposals (mentee_id) WHERE status = 'open';

-- Every meeting scheduling placed, with its latest known state.
CREATE TABLE analytics_meetings (
    meeting_id       text PRIMARY KEY,
    relationship_id  text NOT NULL,
    program_id       text NOT NULL,
    mentor_id        text NOT NULL,
    mentee_id        text NOT NULL,
    occurrence       int NOT NULL,
    starts_at        timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN ('scheduled', 'cancelled', 'completed', 'missed')),
    updated_at       timestamptz NOT NULL
);
CREATE INDEX analytics_meetings_program ON analytics_meetings (program_id, status);
CREATE INDEX analytics_meetings_relationship ON analytics_meetings (relationship_id, starts_at);

-- Occurrences with no slot in both people's hours (occurrence 0: the pair has no common window at all).
CREATE TABLE analytics_unplaceable (
    relationship_id  text NOT NULL,
    occurrence       int NOT NULL,
    program_id       text NOT NULL,
    reported_at      timestamptz NOT NULL,
    PRIMARY KEY (relationship_id, occurrence)
);
CREATE INDEX analytics_unplaceable_program ON analytics_unplaceable (program_id);

-- Notifications' outcomes; the program is the recipient's (notifications.v1 does not name it).
CREATE TABLE analytics_notifications (
    notification_id  text PRIMARY KEY,
    recipient_id     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('delivered', 'failed')),
    at               timestamptz NOT NULL
);
CREATE INDEX analytics_notifications_recipient ON analytics_notifications (recipient_id);

-- Dead letters of every topic; program_id when the original event named one.
CREATE TABLE analytics_dead_letters (
    letter_id    text PRIMARY KEY,  -- <topic>.dlq/<partition>/<offset>
    topic        text NOT NULL,
    program_id   text,
    event_type   text,
    service      text NOT NULL,
    error_type   text NOT NULL,
    failed_at    timestamptz NOT NULL
);
CREATE INDEX analytics_dead_letters_program ON analytics_dead_letters (program_id);

-- Health, counted where feedback changes it: the reasons of the latest assessment, and each change.
ALTER TABLE relationship_health ADD COLUMN reasons text[] NOT NULL DEFAULT '{}';
CREATE TABLE health_changes (
    change_id        bigserial PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES pairs,
    previous         text,
    current          text NOT NULL,
    score            real NOT NULL,
    changed_at       timestamptz NOT NULL
);
CREATE INDEX health_changes_relationship ON health_changes (relationship_id);

-- What the program team asked for from the dashboard (published through the outbox).
CREATE TABLE ops_actions (
    action_id        text PRIMARY KEY,  -- the id of the event published
    relationship_id  text,
    program_id       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('nudge', 'end', 'rematch')),
    requested_by     text NOT NULL,
    requested_at     timestamptz NOT NULL
);
CREATE INDEX ops_actions_relationship ON ops_actions (relationship_id, kind);

CREATE INDEX pairs_program ON pairs (program_id, status);
CREATE INDEX feedback_requests_relationship ON feedback_requests (relationship_id);

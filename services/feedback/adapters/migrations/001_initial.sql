CREATE TABLE relationships (
    relationship_id     text PRIMARY KEY,
    program_id          text NOT NULL,
    mentor_id           text NOT NULL,
    mentee_id           text NOT NULL,
    goals               jsonb NOT NULL DEFAULT '[]',
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    established_at      timestamptz NOT NULL,
    ended_at            timestamptz,
    end_reason          text,
    health_score        real,
    health_state        text
);

CREATE TABLE feedback_requests (
    request_id       text PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES relationships,
    meeting_id       text NOT NULL,
    participant_id   text NOT NULL,
    role             text NOT NULL,
    requested_at     timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    answered_at      timestamptz,
    UNIQUE (meeting_id, participant_id)
);
CREATE INDEX feedback_requests_open ON feedback_requests (relationship_id) WHERE answered_at IS NULL;

CREATE TABLE feedback (
    feedback_id      text PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES relationships,
    participant_id   text NOT NULL,
    meeting_id       text,
    rating           int NOT NULL,
    progress         int,
    comment          text,
    goals_achieved   jsonb NOT NULL DEFAULT '[]',
    submitted_at     timestamptz NOT NULL
);
CREATE INDEX feedback_by_relationship ON feedback (relationship_id, submitted_at);

CREATE TABLE milestones (
    relationship_id  text NOT NULL REFERENCES relationships,
    milestone        text NOT NULL,
    participant_id   text NOT NULL,
    achieved_at      timestamptz NOT NULL,
    PRIMARY KEY (relationship_id, milestone)
);

-- One row per meeting outcome: a repeated completion of the same meeting counts once.
CREATE TABLE meeting_outcomes (
    meeting_id       text PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES relationships,
    held             boolean NOT NULL,
    recorded_at      timestamptz NOT NULL
);

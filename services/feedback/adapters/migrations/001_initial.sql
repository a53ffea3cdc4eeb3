-- Feedback's own tables; the pairs and participants come from the shared replicas (shared/sql).

-- How each pair is doing: the latest assessment (services/feedback/domain/health.py).
CREATE TABLE relationship_health (
    relationship_id  text PRIMARY KEY REFERENCES pairs,
    score            real NOT NULL,
    state            text NOT NULL CHECK (state IN ('healthy', 'watch', 'at_risk')),
    assessed_at      timestamptz NOT NULL
);

CREATE TABLE feedback_requests (
    request_id       text PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES pairs,
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
    relationship_id  text NOT NULL REFERENCES pairs,
    participant_id   text NOT NULL,
    meeting_id       text,
    rating           int NOT NULL,
    progress         int,
    comment          text,
    goals_achieved   text[] NOT NULL DEFAULT '{}',
    submitted_at     timestamptz NOT NULL
);
CREATE INDEX feedback_by_relationship ON feedback (relationship_id, submitted_at);

CREATE TABLE milestones (
    relationship_id  text NOT NULL REFERENCES pairs,
    milestone        text NOT NULL,
    participant_id   text NOT NULL,
    achieved_at      timestamptz NOT NULL,
    PRIMARY KEY (relationship_id, milestone)
);

-- One row per meeting outcome: a repeated completion of the same meeting counts once.
CREATE TABLE meeting_outcomes (
    meeting_id       text PRIMARY KEY,
    relationship_id  text NOT NULL REFERENCES pairs,
    held             boolean NOT NULL,
    recorded_at      timestamptz NOT NULL
);
CREATE INDEX meeting_outcomes_relationship ON meeting_outcomes (relationship_id);

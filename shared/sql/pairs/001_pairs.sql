-- The mentoring pairs matching established, as this service knows them from matches.v1
-- (shared/replica.py). Matching owns relationships; this is a follower's copy.
CREATE TABLE pairs (
    relationship_id  text PRIMARY KEY,
    program_id       text NOT NULL,
    mentor_id        text NOT NULL,
    mentee_id        text NOT NULL,
    established_at   timestamptz NOT NULL,
    goals            text[] NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    ended_at         timestamptz,
    end_reason       text
);
CREATE INDEX pairs_mentor ON pairs (mentor_id);
CREATE INDEX pairs_mentee ON pairs (mentee_id);

-- Participant profiles as received on participants.v1; the in-memory index is rebuilt from here.
CREATE TABLE participants (
    participant_id  text PRIMARY KEY,
    program_id      text NOT NULL,
    profile         jsonb NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX participants_program ON participants (program_id) WHERE active;

--   pending -> accepted | declined | expired | withdrawn (a party left the program)
CREATE TABLE proposals (
    proposal_id   text PRIMARY KEY,
    program_id    text NOT NULL,
    mentee_id     text NOT NULL,
    mentor_id     text NOT NULL,
    score         double precision NOT NULL,
    explanation   jsonb NOT NULL,
    round_id      text,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    closed_at     timestamptz,
    close_reason  text
);
CREATE INDEX proposals_pending_expiry ON proposals (expires_at) WHERE status = 'pending';
CREATE INDEX proposals_mentee ON proposals (mentee_id);
CREATE INDEX proposals_mentor_pending ON proposals (mentor_id) WHERE status = 'pending';

CREATE TABLE relationships (
    relationship_id  text PRIMARY KEY,
    proposal_id      text NOT NULL UNIQUE REFERENCES proposals,
    program_id       text NOT NULL,
    mentee_id        text NOT NULL,
    mentor_id        text NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    established_at   timestamptz NOT NULL,
    ended_at         timestamptz,
    end_reason       text
);
CREATE INDEX relationships_mentor_active ON relationships (mentor_id) WHERE status = 'active';
CREATE INDEX relationships_mentee ON relationships (mentee_id);

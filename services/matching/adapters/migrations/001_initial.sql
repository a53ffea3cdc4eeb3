-- Matching's own tables; the participants come from the shared replica (shared/sql/participants).

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

-- What every replica's in-memory index must know (services/matching/service_layer/indexes.py).
-- A change to a person or a mentor's load stamps the program with a new version from one sequence,
-- under the program's lock and in the same transaction as the change; a replica compares the stamp
-- with its own and reads only the people changed since.
CREATE SEQUENCE index_version;
CREATE TABLE program_versions (
    program_id  text PRIMARY KEY,
    version     bigint NOT NULL
);
CREATE TABLE index_changes (
    program_id      text NOT NULL,
    participant_id  text NOT NULL,
    version         bigint NOT NULL,
    PRIMARY KEY (program_id, participant_id)
);
CREATE INDEX index_changes_since ON index_changes (program_id, version);

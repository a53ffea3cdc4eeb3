-- Pairs the program team said must never be proposed to each other again (`do_not_pair_again` on
-- relationship.end.requested). One row per pair, in the roles they had; matching reads it in both
-- role directions, for on-demand requests and cohort rounds alike.
CREATE TABLE kept_apart (
    mentee_id        text NOT NULL,
    mentor_id        text NOT NULL,
    program_id       text NOT NULL,
    relationship_id  text NOT NULL,
    decided_by       text NOT NULL,
    decided_at       timestamptz NOT NULL,
    PRIMARY KEY (mentee_id, mentor_id)
);
CREATE INDEX kept_apart_mentor ON kept_apart (mentor_id);
-- The order relationships were made in (under the program lock), even within one program instant:
-- the partner of a mentee's latest relationship is not proposed to them again right away.
ALTER TABLE relationships ADD COLUMN made bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX relationships_mentee_latest ON relationships (mentee_id, made DESC);

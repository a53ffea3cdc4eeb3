-- Acting from messages: the answer on fit after a meeting, and the goals of the mentee's agreement.

-- "Is this a good fit?": good, not_good or unsure; NULL when the answer did not say.
ALTER TABLE feedback ADD COLUMN fit text CHECK (fit IN ('good', 'not_good', 'unsure'));

-- Who said it is not a good fit: relationship.fit.questioned is told once per relationship and person.
CREATE TABLE fit_questions (
    relationship_id  text NOT NULL REFERENCES pairs,
    participant_id   text NOT NULL,
    questioned_at    timestamptz NOT NULL,
    PRIMARY KEY (relationship_id, participant_id)
);

-- The goals the mentee gave in their mentoring agreement (relationship.agreement.recorded), in their
-- own words and order: they stand over pairs.goals (the profile's at establishment) from then on.
-- Progress stays in goal_progress, keyed by the goal's text, whichever list the goal came from.
CREATE TABLE agreed_goals (
    relationship_id  text PRIMARY KEY REFERENCES pairs,
    goals            text[] NOT NULL,
    participant_id   text NOT NULL,
    recorded_at      timestamptz NOT NULL
);

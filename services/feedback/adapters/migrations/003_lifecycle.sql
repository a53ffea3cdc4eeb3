-- The relationship's life-cycle: goals and their progress, check-ins, missed meetings in a row,
-- and how it ended (services/feedback/domain/).

-- Progress recorded on a relationship's goals (the goals themselves are the pair's, pairs.goals);
-- a goal without a row stands at 0. `achieved_at`: it first reached 100 (celebrated once).
CREATE TABLE goal_progress (
    relationship_id  text NOT NULL REFERENCES pairs,
    goal             text NOT NULL,
    progress         int NOT NULL CHECK (progress BETWEEN 0 AND 100),
    updated_at       timestamptz NOT NULL,
    achieved_at      timestamptz,
    PRIMARY KEY (relationship_id, goal)
);

-- A milestone that is one of the relationship's goals names it.
ALTER TABLE milestones ADD COLUMN goal text;

-- Requests have a kind: about a meeting, a check-in (numbered), or the closure survey at the end.
-- A check-in is reminded once when it falls due unanswered (`reminded_at`, with a new `due_at`),
-- then counted against health once it falls due again (`counted_at`).
ALTER TABLE feedback_requests ALTER COLUMN meeting_id DROP NOT NULL;
ALTER TABLE feedback_requests
    ADD COLUMN kind text NOT NULL DEFAULT 'meeting' CHECK (kind IN ('meeting', 'checkin', 'closure')),
    ADD COLUMN checkin int,
    ADD COLUMN reminded_at timestamptz,
    ADD COLUMN counted_at timestamptz;
CREATE INDEX feedback_requests_checkins_due ON feedback_requests (due_at)
    WHERE kind = 'checkin' AND answered_at IS NULL AND counted_at IS NULL;

ALTER TABLE feedback
    ADD COLUMN kind text NOT NULL DEFAULT 'meeting' CHECK (kind IN ('meeting', 'checkin', 'closure')),
    ADD COLUMN request_id text;

-- Each relationship's check-ins: how many were asked and when the next is due (with the settings
-- in force when it was computed; the loop checks again when it falls due). NULL: none left in the term.
CREATE TABLE checkin_schedule (
    relationship_id  text PRIMARY KEY REFERENCES pairs,
    asked            int NOT NULL DEFAULT 0,
    next_at          timestamptz
);
CREATE INDEX checkin_schedule_due ON checkin_schedule (next_at) WHERE next_at IS NOT NULL;
-- Relationships established before check-ins existed: the loop works out their next one.
INSERT INTO checkin_schedule (relationship_id, asked, next_at)
SELECT relationship_id, 0, established_at FROM pairs WHERE status = 'active';

-- Missed meetings in a row are counted in meeting order.
ALTER TABLE meeting_outcomes ADD COLUMN starts_at timestamptz;
CREATE INDEX meeting_outcomes_in_order ON meeting_outcomes (relationship_id, starts_at);

-- One nudge per streak of missed meetings, the streak named by its first missed meeting.
CREATE TABLE missed_streaks (
    relationship_id   text NOT NULL REFERENCES pairs,
    first_meeting_id  text NOT NULL,
    consecutive       int NOT NULL,
    announced_at      timestamptz NOT NULL,
    PRIMARY KEY (relationship_id, first_meeting_id)
);

-- Health reasons as codes with parameters, for each reader's language.
ALTER TABLE relationship_health ADD COLUMN reason_codes jsonb NOT NULL DEFAULT '[]';

-- What each relationship achieved when it ended (relationship.concluded), for the program team.
CREATE TABLE conclusions (
    relationship_id  text PRIMARY KEY REFERENCES pairs,
    reason_code      text NOT NULL,
    meetings_held    int NOT NULL,
    term_served      real NOT NULL,
    certificate      boolean NOT NULL,
    concluded_at     timestamptz NOT NULL
);

-- Mentees told that no mentor fits right now (match.unavailable), in their current waiting stretch:
-- told once. The row goes when a mentor is proposed to them or they are paired (match.proposed,
-- match.established), so a later stretch of waiting is told again (service_layer/waiting.py).
CREATE TABLE waiting_mentees (
    mentee_id       text PRIMARY KEY,
    program_id      text NOT NULL,
    cause_event_id  text NOT NULL,  -- the match.unavailable they were told of
    told_at         timestamptz NOT NULL
);

-- A stretch at risk of a program whose team has no contacts here yet (its settings travel on another
-- topic, or name nobody) is held rather than lost: told = false, with what it takes to write the
-- alert once contacts arrive (ids, the score and the reasons' codes; no names, no free text). The
-- program's `program.configured` with contacts sends the held ones and marks them told
-- (service_layer/program_team.py). Rows from before were all told.
ALTER TABLE risk_alerts
    ADD COLUMN told          boolean NOT NULL DEFAULT true,
    ADD COLUMN program_id    text,
    ADD COLUMN score         double precision,
    ADD COLUMN reason_codes  jsonb;

CREATE INDEX risk_alerts_held ON risk_alerts (program_id) WHERE NOT told;

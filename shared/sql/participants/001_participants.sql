-- Who takes part, as this service knows them from participants.v1 (shared/replica.py).
-- Typed columns in the services' own shape (shared/people.py), not the upstream system's JSON.
CREATE TABLE participants (
    participant_id       text PRIMARY KEY,
    program_id           text NOT NULL,
    roles                text[] NOT NULL,
    name                 text NOT NULL,
    email                text NOT NULL,
    locale               text NOT NULL,
    languages            text[] NOT NULL,
    timezone             text NOT NULL,
    country              text NOT NULL,
    region               text NOT NULL,
    sector               text NOT NULL,
    department           text,
    manager_id           text,
    seniority            int NOT NULL,
    skills               text[] NOT NULL,
    goals                text[] NOT NULL,
    mentor_capacity      int NOT NULL,
    diverse_perspective  boolean NOT NULL,
    availability         jsonb NOT NULL,  -- [[days, "HH:MM", "HH:MM"], ...] on the person's own clock
    channel              text NOT NULL,
    style                text NOT NULL,
    quiet_start          text,
    quiet_end            text,
    webhook_url          text,
    response_time_hours  int NOT NULL,
    active               boolean NOT NULL DEFAULT true,
    -- The person asked to be forgotten: personal fields are overwritten; what stays is pseudonymous.
    erased               boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX participants_program ON participants (program_id) WHERE active;

-- What notifications needs to know about people: where and how to reach them.
CREATE TABLE recipients (
    participant_id       text PRIMARY KEY,
    program_id           text NOT NULL,
    name                 text NOT NULL,
    email                text NOT NULL,
    locale               text NOT NULL,
    timezone             text NOT NULL,
    languages            jsonb NOT NULL DEFAULT '[]',
    channel              text NOT NULL,
    style                text NOT NULL,
    quiet_start          text,
    quiet_end            text,
    webhook_url          text,
    response_time_hours  int NOT NULL DEFAULT 48,
    profile              jsonb NOT NULL,
    active               boolean NOT NULL DEFAULT true,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE relationships (
    relationship_id  text PRIMARY KEY,
    mentor_id        text NOT NULL,
    mentee_id        text NOT NULL
);

-- The delivery log. One row per (cause event, recipient, template): the id is derived from them,
-- so a redelivered event cannot create a second message.
--   pending -> sending -> delivered
--                      -> pending (temporary failure, retried later) -> ... -> failed
--                      -> failed (permanent failure, or interrupted mid-send: never sent twice)
CREATE TABLE deliveries (
    delivery_id     text PRIMARY KEY,
    recipient_id    text NOT NULL,
    channel         text NOT NULL,
    template        text NOT NULL,
    language        text NOT NULL,
    cause_event_id  text NOT NULL,
    cause_type      text NOT NULL,
    address         text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    attachment      jsonb,
    not_before      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    claimed_at      timestamptz,
    delivered_at    timestamptz
);
CREATE INDEX deliveries_due ON deliveries (not_before) WHERE status = 'pending';
CREATE INDEX deliveries_sending ON deliveries (claimed_at) WHERE status = 'sending';

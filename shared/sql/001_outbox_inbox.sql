-- Transactional outbox: events are written here in the same transaction as the state change that
-- causes them, then published by the relay. States: pending -> published, or failed when Kafka
-- refuses the record for good (it stays here, visible, never dropped).
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    topic         text NOT NULL,
    key           text,
    payload       bytea NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}'::jsonb,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'published', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      int NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';

-- Inbox: the ids of events whose effect has been committed, so a redelivered event is skipped.
CREATE TABLE inbox (
    topic        text NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
);

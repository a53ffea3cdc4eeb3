-- Transactional outbox: events are written here in the same transaction as the state change that
-- causes them, then published by the relay (shared/outbox.py). States:
--   pending -> published
--   pending -> failed   (Kafka refused the record for good; it blocks the later events of its
--                        (topic, key) until an operator retries it -> pending, or skips it -> skipped)
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    topic         text NOT NULL,
    key           text,
    payload       bytea NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}'::jsonb,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'published', 'failed', 'skipped')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      int NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';
CREATE INDEX outbox_failed ON outbox (topic, key, id) WHERE state = 'failed';

-- Inbox: the ids of events whose effect has been committed, so a redelivered event is skipped.
-- `digest` fingerprints the event's type and data: an id used again for a different event is refused.
CREATE TABLE inbox (
    topic        text NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    digest       bytea NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, event_id)
);

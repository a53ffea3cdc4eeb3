-- A published event leaves the outbox at once: Kafka has it, and its row (whose payload may name
-- people) has nothing more to do here. What stays is how many events of each type this service
-- has published, so "exactly these commands went out" can still be checked from its database
-- (`tandem.link_scanner`, the tests). Refused events (`failed`, then `skipped`) keep their rows for
-- `tandem outbox`; the relay keeps `published` rows no more (rows marked by an older relay are
-- counted here and removed).
CREATE TABLE outbox_published (
    topic              text NOT NULL,
    event_type         text NOT NULL,
    events             bigint NOT NULL,
    last_published_at  timestamptz NOT NULL,
    PRIMARY KEY (topic, event_type)
);
INSERT INTO outbox_published (topic, event_type, events, last_published_at)
SELECT topic, coalesce(headers->>'ce_type', ''), count(*), max(coalesce(published_at, created_at))
  FROM outbox WHERE state = 'published' GROUP BY 1, 2;
DELETE FROM outbox WHERE state = 'published';

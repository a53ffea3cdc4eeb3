-- Records dead-lettered by this service, by their place in the topic (as Kafka names it), so a
-- record handed over again (a redelivery) is neither waited on nor dead-lettered a second time.
-- Not by event id: a dead letter replayed once its cause is fixed (`tandem dlq replay`) comes at a
-- new offset and must be applied.
CREATE TABLE dead_lettered (
    topic             text NOT NULL,
    partition         int NOT NULL,
    "offset"          bigint NOT NULL,
    dead_lettered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

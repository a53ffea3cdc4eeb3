-- Messages to the program team (services/notifications/domain/program_team.py).

-- Who a delivery is for: a participant, or an ops contact of a program (known by an opaque id; the
-- address is only in the row, as for participants).
ALTER TABLE deliveries ADD COLUMN recipient_kind text NOT NULL DEFAULT 'participant'
    CHECK (recipient_kind IN ('participant', 'ops_contact'));

-- A relationship's current stretch at risk, once its ops contacts were alerted: one alert per change
-- of state. The row goes when the relationship's health leaves `at_risk`.
CREATE TABLE risk_alerts (
    relationship_id  text PRIMARY KEY,
    cause_event_id   text NOT NULL,
    alerted_at       timestamptz NOT NULL
);

-- What the daily digest tells, gathered as it arrives; `local_date` is the digest that took it.
CREATE TABLE digest_items (
    program_id   text NOT NULL,
    item_id      text NOT NULL,  -- the event's id, or the dead letter's place in its topic
    kind         text NOT NULL CHECK (kind IN ('unmatched', 'unschedulable', 'dead_letter')),
    occurred_at  timestamptz NOT NULL,  -- program time
    details      jsonb NOT NULL,
    local_date   date,
    PRIMARY KEY (program_id, item_id)
);
CREATE INDEX digest_items_waiting ON digest_items (program_id) WHERE local_date IS NULL;

-- One digest per program and local day, claimed in the transaction that composes it: with N
-- replicas, exactly one sends it.
CREATE TABLE digests (
    program_id   text NOT NULL,
    local_date   date NOT NULL,
    composed_at  timestamptz NOT NULL,  -- program time
    items        int NOT NULL DEFAULT 0,
    PRIMARY KEY (program_id, local_date)
);

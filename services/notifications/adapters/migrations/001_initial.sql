-- Notifications' own table; who people are and which pairs exist come from the shared replicas
-- `participants` and `pairs` (shared/sql).

-- The delivery log: one row per (cause event, recipient, template). The id is derived from them,
-- so a redelivered event cannot create a second message. The state machine is the `Delivery`
-- aggregate's (services/notifications/domain/delivery.py):
--   pending -> sending -> delivered
--                      -> pending (nothing was delivered: retried later) -> ... -> failed
--                      -> failed (refused for good, unknown whether it went out, or interrupted
--                                 mid-send: never sent twice)
-- `version` counts the changes: each is saved only over the version it was made from, so one
-- replica claims a delivery and one outcome is recorded.
CREATE TABLE deliveries (
    delivery_id     text PRIMARY KEY,
    recipient_id    text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
    template        text NOT NULL,
    language        text NOT NULL,
    cause_event_id  text NOT NULL,
    cause_type      text NOT NULL,
    address         text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    attachment      jsonb,  -- {"filename", "content", "mime_type"}
    not_before      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    last_error      text,
    claimed_at      timestamptz,  -- program time of the latest claim
    delivered_at    timestamptz,
    version         int NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'sending' OR claimed_at IS NOT NULL)
);
CREATE INDEX deliveries_due ON deliveries (not_before) WHERE status = 'pending';
CREATE INDEX deliveries_sending ON deliveries (claimed_at) WHERE status = 'sending';

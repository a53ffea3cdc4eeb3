-- Everyone forgotten on request (participant.erased), by pseudonymous id only: written on every
-- erasure whatever the `participants` row holds, also for someone this service has not heard of
-- yet. A profile that arrives later for one of them (participant.onboarded/updated: an HRIS
-- re-sync, a replayed dead letter) is refused with the reason `erased` (shared/replica.py), so an
-- erasure cannot be undone, and an erasure that arrives before the onboarding still holds.
CREATE TABLE erased_participants (
    participant_id  text PRIMARY KEY,
    erased_at       timestamptz NOT NULL DEFAULT now()
);
-- The people erased before this table existed.
INSERT INTO erased_participants (participant_id, erased_at)
    SELECT participant_id, updated_at FROM participants WHERE erased
    ON CONFLICT DO NOTHING;

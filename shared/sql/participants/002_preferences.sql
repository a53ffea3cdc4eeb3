-- The person's own choices from their preferences page (participant.preferences.changed), kept apart
-- from the profile columns the HRIS owns: a profile update rewrites those, never these, and the
-- replica lays the choices over the profile each time it reads a row (shared/replica.py).
--   preferences             {"channel", "quiet_hours": {"start", "end"} | null, "locale", "style"};
--                           a null channel, locale or style is "as the profile says"; a null
--                           quiet_hours is "no quiet hours". NULL: no choices recorded (the profile
--                           alone counts, its quiet hours included).
--   muted                   kinds of message they no longer want: reminders, checkins, nudges.
--   preferences_changed_at  when they made the choices stored here: an older event is ignored.
-- Defaults, so bulk loads that COPY only the profile columns (PARTICIPANT_COLUMNS) still work.
ALTER TABLE participants
    ADD COLUMN preferences             jsonb,
    ADD COLUMN muted                   text[] NOT NULL DEFAULT '{}',
    ADD COLUMN preferences_changed_at  timestamptz,
    ADD CONSTRAINT participants_preferences_whole
        CHECK ((preferences IS NULL) = (preferences_changed_at IS NULL));

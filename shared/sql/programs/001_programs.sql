-- Each program's settings as its team configured them on programs.v1 (shared/programs.py).
-- A NULL means "not set": the deployment's default applies, read when the setting is used.
CREATE TABLE programs (
    program_id                text PRIMARY KEY,
    name                      text NOT NULL,
    timezone                  text,
    ops_contacts              jsonb,  -- [{"name", "email", "locale", "channel", "webhook_url"}]
    cadence_days              int,
    duration_minutes          int,
    min_notice_hours          double precision,
    response_window_hours     double precision,
    min_overlap_hours         double precision,
    reminder_offsets_minutes  int[],
    matching_weights          jsonb,  -- {"goal_fit": 0.4, ...}: only the weights the team set
    term_days                 int,
    checkin_first_day         int,
    checkin_every_days        int,
    configured_at             timestamptz NOT NULL
);

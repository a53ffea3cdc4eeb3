-- The range a pair's mentoring agreement may choose, where video meetings happen, who organises invites.
ALTER TABLE programs
    ADD COLUMN cadence_days_min      int,
    ADD COLUMN cadence_days_max      int,
    ADD COLUMN duration_minutes_min  int,
    ADD COLUMN duration_minutes_max  int,
    ADD COLUMN video_link_template   text,
    ADD COLUMN organizer_email       text;

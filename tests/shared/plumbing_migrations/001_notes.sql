CREATE TABLE notes (feedback_id text PRIMARY KEY, comment text, applied_at timestamptz NOT NULL DEFAULT now());

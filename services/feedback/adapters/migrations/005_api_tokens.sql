-- Machines' API tokens for /api: one role on one program (or tandem-admin on all), an expiry, and who
-- made it. Only a SHA-256 of the token is kept: the token itself is shown once, by `tandem token create`.
CREATE TABLE api_tokens (
    token_id     text PRIMARY KEY,
    name         text,
    token_sha256 bytea NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('program-viewer', 'program-admin', 'tandem-admin')),
    program_id   text,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    CHECK ((role = 'tandem-admin') = (program_id IS NULL))
);

-- Every service that reads a topic dead-letters its own copy of a message none can take: the refused
-- message's own place (<topic>/<partition>/<offset>), so the dashboard counts each bad message once.
-- Letters kept before have none and count as themselves.
ALTER TABLE analytics_dead_letters ADD COLUMN original text;

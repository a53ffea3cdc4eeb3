-- Chat deliveries say their wire format: a generic signed webhook, Slack or Microsoft Teams.
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_channel_check;
ALTER TABLE deliveries
    ADD CONSTRAINT deliveries_channel_check CHECK (channel IN ('email', 'webhook', 'slack', 'teams'));

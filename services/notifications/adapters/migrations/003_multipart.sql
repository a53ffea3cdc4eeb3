-- Every mail is multipart: the plain text (`body`) and the same message as simple HTML, rendered
-- once when the delivery is planned. `unsubscribe_url` is the reader's notification preferences
-- (the List-Unsubscribe header); ops contacts have none. Attachments may be binary (a certificate
-- PDF): their jsonb then says "encoding": "base64".
ALTER TABLE deliveries ADD COLUMN html text NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN unsubscribe_url text;

-- Replies by e-mail: the recipient's keyed hash (rate limit against mail loops, no address in
-- clear) and our own Message-ID, known before sending (threads replies, finds bounces).
ALTER TABLE replies ADD COLUMN recipient_key TEXT;
CREATE INDEX replies_by_recipient ON replies (channel, recipient_key, created_at) WHERE recipient_key IS NOT NULL;

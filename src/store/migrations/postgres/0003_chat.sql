-- hue-intake, PostgreSQL schema v3 (as SQLite's 0003): the chat channels (Facebook Page, Zalo OA).
--
-- A webhook body is stored whole in `inbound` (message_id `body:<sha256>`), acknowledged,
-- then split into events by the pipeline. The tables below hold what follows from it: which
-- events were seen (the dedup key across redeliveries), the open drafts they fold into, the
-- media to fetch from the platforms' expiring URLs, the replies to send, and the platforms'
-- tokens. None holds personal data in clear: platform ids are sealed or keyed hashes.

-- Every event of every body, once: a redelivered event (same mid / comment id / msg_id, in
-- whatever body) is recognised here and goes no further.
CREATE TABLE chat_events (
    channel       TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,              -- native id; comment edits and removals carry their verb
    inbound_seq   BIGINT  NOT NULL REFERENCES inbound (seq),
    position      BIGINT  NOT NULL,              -- index of the event in its body
    outcome       TEXT    NOT NULL,              -- drafted | interaction | no_record | edit | removed
    record_id     TEXT,                          -- the draft it joined (its record id) or the record it became
    PRIMARY KEY (channel, event_id)
);

-- A conversation being assembled into one record (SPEC §3): one open draft per sender.
CREATE TABLE chat_drafts (
    record_id     TEXT    PRIMARY KEY,           -- allocated when the draft opens
    channel       TEXT    NOT NULL,
    sender_key    TEXT    NOT NULL,              -- keyed hash of the platform's sender id (and of the
                                                 -- report, for an interaction's draft)
    in_reply_to   TEXT,                          -- the report an interaction's draft is about
    tracking_code TEXT    NOT NULL UNIQUE,
    opened_at     TEXT    NOT NULL,
    last_at       TEXT    NOT NULL,
    closes_at     TEXT    NOT NULL,              -- when it becomes a record if nothing else comes
    members       TEXT    NOT NULL,              -- JSON [[inbound_seq, position], ...] in order
    asked         TEXT    NOT NULL DEFAULT '[]', -- JSON: missing items already asked for
    state         TEXT    NOT NULL DEFAULT 'open'   -- open | closed
);
CREATE UNIQUE INDEX chat_drafts_open ON chat_drafts (channel, sender_key) WHERE state = 'open';
CREATE INDEX chat_drafts_closing ON chat_drafts (closes_at) WHERE state = 'open';

-- Attachments to download from the platform's CDN right after the commit (the URLs expire).
CREATE TABLE chat_media (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbound_seq     BIGINT  NOT NULL REFERENCES inbound (seq),
    position        BIGINT  NOT NULL,            -- the event in its body
    attachment      BIGINT  NOT NULL,            -- the attachment in its event
    kind            TEXT    NOT NULL,            -- image | video | audio | file, as the platform says
    url             TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',   -- pending | fetched | failed
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,                        -- why the last attempt failed (never content)
    item            TEXT,                        -- JSON MediaItem once fetched
    UNIQUE (inbound_seq, position, attachment)
);
CREATE INDEX chat_media_due ON chat_media (next_attempt_at) WHERE state = 'pending';

-- Words to the citizen on their own channel, sent once each by the reply worker.
CREATE TABLE replies (
    id                  TEXT    PRIMARY KEY,     -- UUIDv7; Facebook echoes it back in metadata
    channel             TEXT    NOT NULL,
    purpose             TEXT    NOT NULL,        -- acknowledgement | question | notice
    dedupe_key          TEXT    NOT NULL UNIQUE, -- what it answers: never two replies for one thing
    record_id           TEXT,
    tracking_code       TEXT,
    recipient_sealed    BYTEA   NOT NULL,        -- JSON Recipient, sealed with the reply id
    text                TEXT    NOT NULL,        -- composed from the record: no personal data
    state               TEXT    NOT NULL DEFAULT 'pending',  -- pending | sending | sent | failed | uncertain
    attempts            BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at     TEXT    NOT NULL,
    last_error          TEXT,
    platform_message_id TEXT,                    -- the platform's id of what we sent
    created_at          TEXT    NOT NULL,
    sent_at             TEXT
);
CREATE INDEX replies_due ON replies (next_attempt_at) WHERE state = 'pending';
CREATE INDEX replies_by_platform_id ON replies (channel, platform_message_id);

-- Tokens the gateway renews itself (Zalo OA access and refresh tokens), sealed.
CREATE TABLE channel_tokens (
    channel       TEXT PRIMARY KEY,
    sealed        BYTEA NOT NULL,
    expires_at    TEXT,
    updated_at    TEXT NOT NULL
);

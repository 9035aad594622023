-- hue-intake, PostgreSQL schema v9 (as migrations/sqlite/0009_core_updates.sql): results back from the case system (issue 7 item 5).

-- Every update the core posted to /v1/core/updates, once per update_id (the core's
-- idempotency key), stored before the 2xx. `message` is the public result (R9), written by
-- the agency for the citizen: no personal data by contract. What the gateway did with it is
-- recorded beside it (`relay`, `relay_reason`) and `answer` is the first answer, returned
-- again on a repeat.
CREATE TABLE core_updates (
    update_id        TEXT    PRIMARY KEY,
    fingerprint      TEXT    NOT NULL,           -- SHA-256 of the canonical body: a repeat vs a conflict
    tracking_code    TEXT    NOT NULL,           -- the report (upper case)
    record_id        TEXT    NOT NULL REFERENCES records (id),
    status           TEXT    NOT NULL,           -- received | in_progress | resolved | rejected | reopened
    agency           TEXT    NOT NULL,
    message          TEXT    NOT NULL,
    at               TEXT    NOT NULL,           -- the core's time, UTC, fixed width (text order = time order)
    received_at      TEXT    NOT NULL,
    relay            TEXT    NOT NULL,           -- facebook | facebook_tag | zalo | email | email_fallback | none
    relay_reason     TEXT,                       -- why not relayed, or why a fallback (never content)
    reply_id         TEXT,                       -- the queued reply (replies.id), when relayed
    rating_requested BOOLEAN NOT NULL DEFAULT FALSE,
    answer           TEXT    NOT NULL            -- JSON of the first answer
);
-- R10: "is there an update for this report at or after that interaction?"
CREATE INDEX core_updates_by_report ON core_updates (tracking_code, at);

-- replies.purpose gains `result` (a core update relayed) and `rating_request` (a resolved
-- result asking for the R9 rating: an e-mail answer to it is read as a rating).
-- How a reply is sent beyond its text: Messenger's messaging type and tag, quick replies or
-- Zalo buttons (JSON ReplyOptions; NULL for a plain reply as before).
ALTER TABLE replies ADD COLUMN options TEXT;

-- R10's overdue report reads interactions by time.
CREATE INDEX records_interactions ON records (received_at) WHERE kind = 'interaction';

-- hue-intake, PostgreSQL schema v1: the same tables and constraints as SQLite's 0001.
-- Times are RFC 3339 UTC text of fixed width (microseconds, `Z`), exactly as SQLite keeps them:
-- one format on both backends, so the backend-neutral code binds and parses the same values
-- and text order is time order. Ids are text UUIDs; sealed bytes are BYTEA.

-- Every inbound message exactly as received (R7), sealed (R8), under its unique key.
CREATE TABLE inbound (
    seq           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel       TEXT    NOT NULL,
    message_id    TEXT    NOT NULL,              -- native id, without the channel prefix
    received_at   TEXT    NOT NULL,
    raw_sha256    TEXT    NOT NULL,              -- of the exact bytes received
    fingerprint   TEXT    NOT NULL,              -- raw + media hashes: tells a retry from a different body
    raw_sealed    BYTEA   NOT NULL,
    meta          TEXT    NOT NULL,              -- JSON: media described at receive, client name
    kind          TEXT,                          -- report | interaction | rating, when known at receive
    record_id     TEXT,                          -- allocated at receive for one-message channels
    tracking_code TEXT    UNIQUE,
    disposition   TEXT,                          -- JSON, as answered at receive
    state         TEXT    NOT NULL DEFAULT 'received',   -- received | processed | quarantined
    error         TEXT,                          -- why it was quarantined (never payload text)
    UNIQUE (channel, message_id)
);
-- Partial: holds only what the pipeline has still to do, so it stays small and cheap.
CREATE INDEX inbound_unprocessed ON inbound (seq) WHERE state = 'received';

-- Canonical records (SPEC §1), one per report, interaction or rating.
CREATE TABLE records (
    id            TEXT PRIMARY KEY,
    tracking_code TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    state         TEXT NOT NULL,                 -- disposition.state
    in_reply_to   TEXT,
    body          TEXT NOT NULL                  -- the canonical JSON
);

-- Records waiting to go downstream, in commit order; not_before holds deferred ones.
CREATE TABLE outbox (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id     TEXT   NOT NULL UNIQUE REFERENCES records (id),
    not_before    TEXT   NOT NULL,
    delivered_at  TEXT,
    attempts      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE delivered_at IS NULL;

-- Personal data of each record's reporter, sealed with the record id as associated data.
CREATE TABLE reporter_vault (
    record_id     TEXT    PRIMARY KEY REFERENCES records (id),
    reporter_ref  TEXT    NOT NULL,
    consent       BOOLEAN NOT NULL,
    sealed        BYTEA   NOT NULL,
    created_at    TEXT    NOT NULL
);
CREATE INDEX reporter_vault_by_ref ON reporter_vault (reporter_ref);

-- One row, rewritten by readiness checks: proves the store takes writes.
CREATE TABLE heartbeat (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    at            TEXT   NOT NULL
);


-- hue-intake, PostgreSQL schema v2 (as SQLite's 0002): sanctions (R12).
-- Violations, each reporter's standing kept current beside them, and the audit of every change.
-- Nothing here holds personal data: reporters are their pseudonymous reporter_ref, rules are
-- lexicon ids (never the words), and `why` is what staff wrote, with contacts scrubbed.

-- One violation of R12: improper language found by the gateway, or reported by the case
-- system or staff. A record counts at most once per source (re-commits are no-ops).
CREATE TABLE violations (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter_ref  TEXT    NOT NULL,
    scope         TEXT    NOT NULL CHECK (scope IN ('report', 'interaction')),
    record_id     TEXT,                          -- the offending record, when known
    tracking_code TEXT,
    source        TEXT    NOT NULL CHECK (source IN ('gateway', 'case_system', 'staff')),
    rules         TEXT    NOT NULL DEFAULT '[]', -- JSON array of lexicon rule ids, no text
    at            TEXT    NOT NULL,              -- when the offending message was received
    state         TEXT    NOT NULL CHECK (state IN ('counted', 'review', 'dismissed')),
    UNIQUE (record_id, source)
);
-- The writer recounts one reporter's counted violations at every change.
CREATE INDEX violations_by_reporter ON violations (reporter_ref, state, scope, at);
CREATE INDEX violations_by_record ON violations (record_id);

-- Each reporter's standing, rewritten in the same transaction as every change to their
-- violations or locks, so the receive path needs one primary-key lookup.
CREATE TABLE reporter_standing (
    reporter_ref              TEXT PRIMARY KEY,
    account_locked_at         TEXT,              -- set: every report is refused until a lift
    account_lock_violation    BIGINT,            -- the violation that locked it (the 4th)
    interaction_locked_until  TEXT,              -- interactions refused before this time
    interaction_lock_violation BIGINT,           -- the violation that locked them
    last_account_lift_at      TEXT,              -- report violations count after this
    last_interaction_lift_at  TEXT,              -- interaction violations count after this
    report_violations         BIGINT  NOT NULL DEFAULT 0,   -- counted since the last account lift
    interaction_times         TEXT    NOT NULL DEFAULT '[]',-- JSON: times of counted interaction
                                                            -- violations of the last 30 days
    review_violations         BIGINT  NOT NULL DEFAULT 0,   -- waiting for staff
    updated_at                TEXT    NOT NULL
);
CREATE INDEX reporter_standing_updated ON reporter_standing (updated_at);

-- The audit: every change, who made it, when and why.
CREATE TABLE sanction_events (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter_ref  TEXT    NOT NULL,
    at            TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL CHECK (action IN ('violation', 'confirm', 'dismiss', 'lock', 'lift', 'report')),
    scope         TEXT,                          -- account | interaction, for lock and lift
    violation_id  BIGINT  REFERENCES violations (id),
    why           TEXT    NOT NULL
);
CREATE INDEX sanction_events_by_reporter ON sanction_events (reporter_ref, id);

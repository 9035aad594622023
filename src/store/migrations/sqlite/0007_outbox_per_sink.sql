-- The outbox per sink: each configured destination has its own row per record, with its own
-- attempts, schedule and outcome, so the core being down never holds back NATS, and a record
-- one destination refuses (dead) still reaches the others.

-- The sinks records are queued for. Rows of inactive sinks are kept (and can be listed and
-- replayed) but no new rows are made for them. The embedded default is the file sink.
CREATE TABLE sinks (
    name          TEXT PRIMARY KEY,
    active        INTEGER NOT NULL DEFAULT 1
);
INSERT INTO sinks (name, active) VALUES ('file', 1);

CREATE TABLE outbox_per_sink (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    sink            TEXT    NOT NULL,
    record_id       TEXT    NOT NULL REFERENCES records (id),
    -- The report an interaction or rating is about, when it is queued for this sink too: the
    -- follower waits until the report is delivered (order per report).
    after_record    TEXT,
    not_before      TEXT    NOT NULL,            -- deliver_after (deferred records: 07:30)
    next_attempt_at TEXT    NOT NULL,            -- not_before, then the back-off after failures
    state           TEXT    NOT NULL DEFAULT 'pending',   -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,                        -- status and the receiver's reason; never record text
    delivered_at    TEXT,
    dead_at         TEXT,
    remote_id       TEXT,                        -- the receiver's id: the core's case id, Open311's request id
    UNIQUE (sink, record_id)
);
INSERT INTO outbox_per_sink (seq, sink, record_id, not_before, next_attempt_at, state, attempts, delivered_at)
    SELECT seq, 'file', record_id, not_before, not_before,
           CASE WHEN delivered_at IS NULL THEN 'pending' ELSE 'delivered' END, attempts, delivered_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_per_sink RENAME TO outbox;

-- Partial: only what is still to do, in commit order per sink.
CREATE INDEX outbox_pending ON outbox (sink, seq) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox (sink, dead_at) WHERE state = 'dead';
CREATE INDEX outbox_by_record ON outbox (record_id);
CREATE INDEX outbox_by_after ON outbox (after_record) WHERE after_record IS NOT NULL;

-- hue-intake, PostgreSQL schema v7: named leases for work only one instance may do at a time
-- (the pipeline) when several instances share this database. Taken or renewed with one
-- upsert; expires_at is the database server's clock, so instances whose clocks differ still
-- agree on when a lease has run out.
CREATE TABLE leases (
    name          TEXT        PRIMARY KEY,
    holder        TEXT        NOT NULL,     -- host, process id and a random id of the instance
    expires_at    TIMESTAMPTZ NOT NULL
);

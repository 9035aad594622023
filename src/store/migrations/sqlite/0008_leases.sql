-- hue-intake, SQLite schema v7: named leases (the pipeline's). One process owns an SQLite
-- database, so a lease here is always its own; the table exists so both backends answer
-- `Store::try_lease` the same way. Times are RFC 3339 UTC text like everywhere else.
CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);

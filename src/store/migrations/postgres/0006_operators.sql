-- Call-centre operators' bearer tokens (POST /v1/hotline/calls, the console). Only the
-- SHA-256 of each token is kept: tokens are 256 random bits, so a fast hash is as safe as a
-- slow one and costs nothing per request.
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);

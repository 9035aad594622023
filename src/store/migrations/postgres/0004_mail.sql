-- hue-intake, PostgreSQL schema v4 (as SQLite's 0004): where the mail poller stands in each mailbox it reads.

-- (UIDVALIDITY, last UID) per mailbox (reference/channels.md §3.1): every message up to
-- last_uid was committed to `inbound` and moved out of the mailbox. A new UIDVALIDITY voids
-- last_uid (the poller reads the mailbox again from UID 1, deduplicated by Message-ID).
CREATE TABLE mail_checkpoints (
    mailbox       TEXT    PRIMARY KEY,            -- the IMAP name as configured
    uidvalidity   BIGINT  NOT NULL,
    last_uid      BIGINT  NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- hue-intake, SQLite schema v4: where the mail poller stands in each mailbox it reads.

-- (UIDVALIDITY, last UID) per mailbox (reference/channels.md §3.1): every message up to
-- last_uid was committed to `inbound` and moved out of the mailbox. A new UIDVALIDITY voids
-- last_uid (the poller reads the mailbox again from UID 1, deduplicated by Message-ID).
CREATE TABLE mail_checkpoints (
    mailbox       TEXT    PRIMARY KEY,            -- the IMAP name as configured
    uidvalidity   INTEGER NOT NULL,
    last_uid      INTEGER NOT NULL,
    updated_at    TEXT    NOT NULL
);

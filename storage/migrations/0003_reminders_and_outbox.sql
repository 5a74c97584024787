-- Expiry reminders, the outbox every scheduled message leaves through, and per-chat state.

-- A chat that blocked the bot (or removed it from a group) is inactive: no reminders, no
-- sync, nothing sent until it comes back (my_chat_member).
ALTER TABLE chats ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
-- The chat's own reminder offsets in seconds, comma-separated, largest first; NULL: the
-- REMINDER_OFFSETS default; '' : reminders turned off.
ALTER TABLE chats ADD COLUMN reminder_offsets TEXT;
-- Order sync: when it last succeeded, and when the key was found revoked (sync stops).
ALTER TABLE chats ADD COLUMN synced_at TEXT;
ALTER TABLE chats ADD COLUMN key_revoked_at TEXT;

-- One row per planned reminder: an order's expiry minus one offset. A reminder is claimed
-- (owner + lease) before its message is built; marking it sent and queueing its message in
-- the outbox is one transaction, so it is never sent twice and never lost.
CREATE TABLE reminders (
    reminder_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id        INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    order_id       TEXT NOT NULL,
    expires_at     TEXT NOT NULL,   -- the expiry this reminder is about
    offset_seconds INTEGER NOT NULL,
    due_at         TEXT NOT NULL,
    state          TEXT NOT NULL,   -- planned | claimed | sent | skipped
    owner          TEXT,
    lease_until    TEXT,
    sent_at        TEXT,
    created_at     TEXT NOT NULL,
    UNIQUE (chat_id, order_id, expires_at, offset_seconds)
);
CREATE INDEX reminders_due ON reminders (state, due_at);

-- Orders a chat muted from their reminder.
CREATE TABLE order_mutes (
    chat_id    INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    order_id   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (chat_id, order_id)
);

-- Every scheduled message (reminders, deposit announcements) waits here until the one
-- sender delivers it within Telegram's limits. (kind, ref) makes queueing idempotent.
CREATE TABLE outbox (
    message_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    text        TEXT NOT NULL,
    markup      TEXT,              -- reply_markup as JSON, or NULL
    state       TEXT NOT NULL,     -- queued | sending | sent | dropped
    owner       TEXT,
    lease_until TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    telegram_message_id INTEGER,
    UNIQUE (kind, ref)
);
CREATE INDEX outbox_queue ON outbox (state, not_before);

-- Deposit arrivals: the bot tells a chat when a deposit reaches its balance.

-- Per chat: when the deposits are read next, how fast, how many reads failed in a row,
-- and where the chat goes back to after topping up. Times are fixed-width UTC ISO text.
--
-- since: deposits created before it are never announced (they were there before the bot
--   watched); NULL: the chat's linked_at. Chats linked before this migration start now, so
--   an upgrade never announces their history. A later link (linked_at) moves it forward.
-- fast_until: a deposit address was shown (or Top up tapped): read every
--   DEPOSIT_POLL_INTERVAL until then, else at the order sync's pace.
-- return_op_id / return_kind: the quote (order) or extend confirmation that was refused for
--   lack of funds and whose Top up was tapped; the announcement leads back to it.
CREATE TABLE deposit_watch (
    chat_id      INTEGER PRIMARY KEY REFERENCES chats (chat_id) ON DELETE CASCADE,
    since        TEXT,
    fast_until   TEXT,
    next_poll_at TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    polled_at    TEXT,
    return_op_id TEXT,
    return_kind  TEXT,
    return_at    TEXT,
    updated_at   TEXT NOT NULL
);
CREATE INDEX deposit_watch_due ON deposit_watch (next_poll_at);

INSERT INTO deposit_watch (chat_id, since, next_poll_at, updated_at)
SELECT chat_id,
       strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00',
       strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00',
       strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'
FROM chats WHERE api_key_enc IS NOT NULL;

-- The deposits a chat knows about, by transaction id:
--   announced: its message was queued (in the same transaction as this row);
--   skipped:   it was there before the watch began, never announced;
--   pending:   seen while not yet completed; announced once it completes.
CREATE TABLE deposits_seen (
    chat_id    INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    tx_id      TEXT NOT NULL,
    state      TEXT NOT NULL,
    amount     TEXT,
    seen_at    TEXT NOT NULL,
    PRIMARY KEY (chat_id, tx_id)
);

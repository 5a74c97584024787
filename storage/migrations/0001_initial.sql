-- Chats and their linked 1001Proxy key (encrypted; never stored in plaintext).
CREATE TABLE chats (
    chat_id        INTEGER PRIMARY KEY,
    api_key_enc    BLOB,
    api_key_masked TEXT,
    account_email  TEXT,
    linked_by      INTEGER,
    linked_at      TEXT,
    created_at     TEXT NOT NULL
);

-- Per-user preferences (language chosen in /settings wins over Telegram's).
CREATE TABLE users (
    user_id    INTEGER PRIMARY KEY,
    language   TEXT,
    updated_at TEXT NOT NULL
);

-- aiogram FSM state, so a half-finished wizard survives a restart.
CREATE TABLE fsm_state (
    storage_key TEXT PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    state       TEXT,
    data        TEXT NOT NULL DEFAULT '{}',
    updated_at  TEXT NOT NULL
);
CREATE INDEX fsm_state_chat ON fsm_state (chat_id);

-- Orders placed or seen for a chat: the local copy feeds orders, reminders and groups.
CREATE TABLE orders (
    order_id     TEXT NOT NULL,
    chat_id      INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    quantity     INTEGER NOT NULL,
    country_id   INTEGER,
    country_name TEXT,
    period_id    INTEGER,
    charged      TEXT NOT NULL,
    expires_at   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (chat_id, order_id)
);
CREATE INDEX orders_expiry ON orders (expires_at);

-- Money-moving requests recorded before they are sent, so a retry reuses the same
-- idempotency key and a repeated tap never sends a second request.
CREATE TABLE operations (
    op_id       TEXT PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    user_id     INTEGER,
    kind        TEXT NOT NULL,
    request     TEXT NOT NULL,
    status      TEXT NOT NULL,
    result      TEXT,
    order_id    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX operations_chat ON operations (chat_id, kind, status);

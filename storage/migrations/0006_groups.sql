-- Groups: a team's storefront (admins spend, members request, nothing secret in the group).

-- Who in a group may see credentials and downloads: 'admins' (the default; they get them
-- in their private chat) or 'all' (shown in the group). Private chats ignore it.
ALTER TABLE chats ADD COLUMN credentials_visibility TEXT NOT NULL DEFAULT 'admins';

-- Single-use invitations behind /link's deep link: the payload is a random token, never the
-- group's id, and it is good for a few minutes.
CREATE TABLE group_link_tokens (
    token       TEXT PRIMARY KEY,
    group_id    INTEGER NOT NULL,
    group_title TEXT NOT NULL,
    created_by  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    used_by     INTEGER
);

-- A member's purchase waiting for an admin: the quote is an ordinary pending operation of
-- the group, so Approve goes through the one paid-action runner like any Confirm.
CREATE TABLE group_requests (
    request_id     TEXT PRIMARY KEY,
    chat_id        INTEGER NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    requester_id   INTEGER NOT NULL,
    requester_name TEXT NOT NULL,
    op_id          TEXT NOT NULL,
    status         TEXT NOT NULL,
    message_id     INTEGER,
    decided_by     INTEGER,
    decided_name   TEXT,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    decided_at     TEXT
);
CREATE INDEX group_requests_open ON group_requests (status, expires_at);
-- One open request per quote, whichever process (or replica) a member's tap reaches.
CREATE UNIQUE INDEX group_requests_one_open ON group_requests (op_id) WHERE status = 'open';

-- Who opened which screen in a group: a tap on someone else's menu changes nothing.
CREATE TABLE screens (
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    owner_id   INTEGER NOT NULL,
    owner_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX screens_created ON screens (created_at);

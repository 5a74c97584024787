-- Paid actions: who claimed an operation, when, and whether its request may have left.
--
-- claimed_at / owner: set by the one worker that claimed it (owner = a process instance id),
--   so start-up recovery knows which claims belong to a process that is gone.
-- sent_at: set right before the money-moving request leaves the process. A claim without
--   it never reached the API: it goes back to pending, never to unknown.
-- message_id: the message showing this action, edited when it settles without a tap.
ALTER TABLE operations ADD COLUMN claimed_at TEXT;
ALTER TABLE operations ADD COLUMN sent_at TEXT;
ALTER TABLE operations ADD COLUMN owner TEXT;
ALTER TABLE operations ADD COLUMN message_id INTEGER;

-- Claims of an older version carried no sent_at: whatever was in flight may have been sent.
UPDATE operations SET status = 'unknown', sent_at = updated_at WHERE status = 'in_flight';
UPDATE operations SET sent_at = updated_at WHERE status = 'unknown';

-- One chat, at most one paid action talking to the provider at a time (enforced here as
-- well as in the claim's transaction, so a second writer can never slip past).
CREATE UNIQUE INDEX operations_one_in_flight_per_chat
    ON operations (chat_id) WHERE status = 'in_flight';
CREATE INDEX operations_status ON operations (status);

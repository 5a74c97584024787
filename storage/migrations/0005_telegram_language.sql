-- The language Telegram reports for a user, remembered so that messages they did not ask for
-- right now (reminders, deposit announcements, recovery notices) use it too when they never
-- chose one in /settings.
ALTER TABLE users ADD COLUMN telegram_language TEXT;

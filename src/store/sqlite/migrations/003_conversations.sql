-- Channels and the built-in bot: apps (client id + sealed secret), loaded bots, channels, users and their
-- identities, conversations; conversation messages live in `messages` with their place in a conversation.

CREATE TABLE apps (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  secret_sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE bots (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  source TEXT NOT NULL,
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  knowledge TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE channels (
  id TEXT PRIMARY KEY,
  name TEXT UNIQUE,
  bot_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  mode TEXT NOT NULL,
  app_id TEXT NOT NULL,
  endpoint_id TEXT,
  sync_timeout_seconds REAL NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX channels_bot ON channels (bot_id, id);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  tz TEXT,
  preferences TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE identities (
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE INDEX identities_user ON identities (user_id);

CREATE TABLE conversations (
  id TEXT PRIMARY KEY,
  bot_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  user_key TEXT NOT NULL,
  user_id TEXT,
  mode TEXT NOT NULL DEFAULT 'bot',
  state TEXT,
  memory TEXT NOT NULL DEFAULT '{}',
  last_prompt TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_message_at INTEGER NOT NULL,
  UNIQUE (channel_id, user_key)
);
CREATE INDEX conversations_bot ON conversations (bot_id, id);
CREATE INDEX conversations_user ON conversations (user_id);

ALTER TABLE messages ADD COLUMN conversation_id TEXT;
ALTER TABLE messages ADD COLUMN direction TEXT;
ALTER TABLE messages ADD COLUMN reply_to TEXT;
ALTER TABLE messages ADD COLUMN turn_status TEXT;
CREATE INDEX messages_conversation ON messages (conversation_id, id) WHERE conversation_id IS NOT NULL;
CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL;
CREATE INDEX messages_pending_turns ON messages (conversation_id, id) WHERE turn_status = 'pending';

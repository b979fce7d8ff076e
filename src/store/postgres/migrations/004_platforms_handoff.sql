-- Third-party platforms and live-agent handoff: a channel may carry a provider, an inbound token (stored as
-- a hash) and settings (limits, signature scheme, Twilio account — secrets sealed); agents with hashed tokens;
-- handoff sessions (waiting → active → closed) of conversations.

ALTER TABLE channels ADD COLUMN provider TEXT;
ALTER TABLE channels ADD COLUMN inbound_token_hash TEXT;
ALTER TABLE channels ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX channels_inbound_token ON channels (inbound_token_hash) WHERE inbound_token_hash IS NOT NULL;

CREATE TABLE agents (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  is_active BOOLEAN NOT NULL DEFAULT true,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE handoffs (
  id TEXT COLLATE "C" PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  agent_id TEXT,
  resume_state TEXT,
  closed_by TEXT,
  requested_at BIGINT NOT NULL,
  assigned_at BIGINT,
  closed_at BIGINT,
  updated_at BIGINT NOT NULL
);
CREATE INDEX handoffs_open ON handoffs (status, requested_at) WHERE status IN ('waiting', 'active');
CREATE INDEX handoffs_conversation ON handoffs (conversation_id, id);

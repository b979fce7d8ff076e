-- Messages a conversation sends out of it (a bot's event webhooks, handoff events to subscribers) carry the
-- conversation's id as their ordering key but no conversation_id: this index finds them, so a user's export
-- holds them and deleting the user removes them (they hold the conversation's memory and the user's details).
CREATE INDEX messages_conversation_events ON messages (ordering_key) WHERE ordering_key IS NOT NULL AND conversation_id IS NULL;

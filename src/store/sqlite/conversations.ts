// SQLite: conversations — incoming messages stored with their conversation, and turns run one at a time
// (SQLite's single writer serialises them) with their writes and published messages in one transaction.
import { conversationFromRow, handoffFromRow, messageFromRow, withOptOut } from '../rows.ts';
import type { ConversationRecord, ConversationsRepo, HandoffOp, MessageRecord, ReceiveInput, Received, Router, TurnCommitted, TurnRunner, TurnWrites } from '../store.ts';
import type { SqliteDb } from './db.ts';
import type { PublishInTx } from './messages.ts';
import { pageClause } from './paging.ts';
import { linkIdentities } from './users.ts';

export function createConversationsRepo(db: SqliteDb, publishInTx: PublishInTx, idempotencyTtlMs: () => number): ConversationsRepo {
  const get = (id: string) => {
    const row = db.get('SELECT * FROM conversations WHERE id = ?', [id]);
    return row ? conversationFromRow(row) : null;
  };
  const ttl = () => ({ idempotencyTtlMs: idempotencyTtlMs() });

  /**
   * Inside a transaction: the conversation (opened on first contact) with its user linked, and whether its row
   * already holds this message's time. Usually it exists and needs nothing but `last_message_at`, which is then
   * left to the turn's update of the row (or to receiveOne), so the row is written once per message, not twice.
   */
  function open(input: ReceiveInput): { conversation: ConversationRecord; written: boolean } {
    const row = db.get('SELECT * FROM conversations WHERE channel_id = ? AND user_key = ?', [input.channelId, input.userKey]);
    const existing = () => ({ conversation: { ...conversationFromRow(row!), lastMessageAt: input.now }, written: false });
    // The user the caller remembers is trusted for a conversation already theirs; any other is linked from its
    // identities anew: the user may have been deleted (with their conversations) since it was remembered.
    if (row && input.knownUserId && row.user_id === input.knownUserId) return existing();
    const userId = input.identities.length ? linkIdentities(db, input.identities, input.newUserId, input.now) : null;
    if (row && (userId === null || row.user_id === userId)) return existing();
    const conversation = conversationFromRow(db.get(
      `INSERT INTO conversations (id, bot_id, channel_id, user_key, user_id, created_at, updated_at, last_message_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel_id, user_key) DO UPDATE SET last_message_at = excluded.last_message_at,
         user_id = coalesce(excluded.user_id, conversations.user_id)
       RETURNING *`,
      [input.conversationId, input.botId, input.channelId, input.userKey, userId, input.now, input.now, input.now],
    )!);
    return { conversation, written: true };
  }

  /** Inside a transaction: a change of handoff session (opened, assigned, closed). */
  function applyHandoff(conversationId: string, op: HandoffOp, now: number): void {
    if (op.kind === 'open') {
      db.run(`INSERT INTO handoffs (id, conversation_id, status, reason, requested_at, updated_at) VALUES (?, ?, 'waiting', ?, ?, ?)`, [op.id, conversationId, op.reason, now, now]);
    } else if (op.kind === 'assign') {
      db.run(`UPDATE handoffs SET status = 'active', agent_id = ?, assigned_at = ?, updated_at = ? WHERE id = ?`, [op.agentId, now, now, op.id]);
    } else {
      db.run(
        `UPDATE handoffs SET status = 'closed', closed_by = ?, agent_id = coalesce(?, agent_id), resume_state = ?, closed_at = ?, updated_at = ? WHERE id = ?`,
        [op.by, op.agentId, op.resumeState, now, now, op.id],
      );
    }
  }

  /** The open handoff session of a conversation a human has (read only when the mode says there is one). */
  function openHandoff(conversation: ConversationRecord) {
    if (conversation.mode === 'bot') return null;
    const row = db.get(`SELECT * FROM handoffs WHERE conversation_id = ? AND status IN ('waiting', 'active') ORDER BY id DESC LIMIT 1`, [conversation.id]);
    return row ? handoffFromRow(row) : null;
  }

  /** The conversation's last messages, oldest first (a handoff request's transcript). */
  function transcript(conversationId: string, limit = 20): MessageRecord[] {
    return db.all('SELECT * FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT ?', [conversationId, limit]).map(messageFromRow).reverse();
  }

  /** Inside a transaction: a turn's writes and its messages published (the incoming one marked done unless it is already). */
  function commit(conversation: ConversationRecord, incoming: MessageRecord, writes: TurnWrites, route: Router, now: number): TurnCommitted {
    const mode = writes.mode ?? conversation.mode;
    db.run(
      `UPDATE conversations SET state = ?, memory = ?, last_prompt = ?, mode = ?, updated_at = ?, last_message_at = ? WHERE id = ?`,
      [writes.state, JSON.stringify(writes.memory), JSON.stringify(writes.lastPrompt), mode, now, conversation.lastMessageAt, conversation.id],
    );
    if (incoming.turnStatus !== 'done') db.run(`UPDATE messages SET turn_status = 'done' WHERE id = ?`, [incoming.id]);
    if (writes.handoff) applyHandoff(conversation.id, writes.handoff, now);
    if (writes.optOut && conversation.userId) {
      const row = db.get('SELECT preferences FROM users WHERE id = ?', [conversation.userId]);
      if (row) db.run('UPDATE users SET preferences = ?, updated_at = ? WHERE id = ?', [withOptOut(String(row.preferences), writes.optOut.eventType), now, conversation.userId]);
    }
    let published = writes.messages.length ? publishInTx(writes.messages, route, { now, ...ttl() }) : [];
    if (writes.announce) {
      const announced = writes.announce(transcript(conversation.id));
      if (announced.length) published = [...published, ...publishInTx(announced, route, { now, ...ttl() })];
    }
    return {
      conversation: { ...conversation, state: writes.state, memory: writes.memory, lastPrompt: writes.lastPrompt, mode, updatedAt: now },
      incoming: { ...incoming, turnStatus: 'done' },
      published,
    };
  }

  function receiveOne(input: ReceiveInput, run: TurnRunner | null, route: Router, now: number): Received {
    const { conversation, written } = open(input);
    const received = receiveIn(conversation, input, run, route, now);
    // No turn wrote the row: the message's time still has to go in.
    if (!written && !received.turn) db.run('UPDATE conversations SET last_message_at = ? WHERE id = ?', [conversation.lastMessageAt, conversation.id]);
    return received;
  }

  function receiveIn(conversation: ConversationRecord, input: ReceiveInput, run: TurnRunner | null, route: Router, now: number): Received {
    const waiting = run ? db.get(`SELECT 1 FROM messages WHERE conversation_id = ? AND turn_status = 'pending' LIMIT 1`, [conversation.id]) : undefined;
    if (run && !waiting && !input.message.idempotencyKey) {
      // The common case: nothing waits and the message cannot be a repeat; work the turn out first, then store
      // the message as done and the turn's writes — each row written once.
      const link = { conversationId: conversation.id, direction: 'incoming' as const, replyTo: null };
      const m = input.message;
      const incoming: MessageRecord = { id: m.id, eventType: m.eventType, payload: m.payload, orderingKey: m.orderingKey, idempotencyKey: null, createdAt: m.createdAt, expired: false, conversation: link, turnStatus: 'done' };
      let writes: TurnWrites | null = null;
      let turnError: unknown = null;
      try {
        writes = run(conversation, incoming, openHandoff(conversation));
      } catch (error) {
        turnError = error;
      }
      const [stored] = publishInTx([{ ...m, conversation: link, turnStatus: writes ? 'done' : 'pending' }], route, { now: input.now, ...ttl() });
      if (!writes) return { conversation, message: stored.message, duplicate: false, turn: null, turnError };
      const turn = commit(conversation, incoming, writes, route, now);
      return { conversation: turn.conversation, message: stored.message, duplicate: false, turn, turnError: null };
    }
    const [published] = publishInTx(
      [{ ...input.message, conversation: { conversationId: conversation.id, direction: 'incoming', replyTo: null } }],
      route,
      { now: input.now, ...ttl() },
    );
    const received: Received = { conversation, message: published.message, duplicate: published.duplicate, turn: null, turnError: null };
    if (!run || published.duplicate || waiting) return received;
    let writes: TurnWrites;
    try {
      writes = run(conversation, published.message, openHandoff(conversation));
    } catch (error) {
      return { ...received, turnError: error };
    }
    received.turn = commit(conversation, published.message, writes, route, now);
    received.conversation = received.turn.conversation;
    return received;
  }

  return {
    async receive(input, route) {
      const { conversation, message, duplicate } = db.tx(() => receiveOne(input, null, route, input.now));
      return { conversation, message, duplicate };
    },

    async receiveAll(inputs, run, route, now) {
      return db.tx(() => inputs.map((input) => receiveOne(input, run, route, now)));
    },

    async takeTurn(conversationId, run, route, now) {
      return db.tx(() => {
        const conversation = get(conversationId);
        if (!conversation) return null;
        const row = db.get(`SELECT * FROM messages WHERE conversation_id = ? AND turn_status = 'pending' ORDER BY id LIMIT 1`, [conversationId]);
        if (!row) return null;
        const incoming = messageFromRow(row);
        return commit(conversation, incoming, run(conversation, incoming, openHandoff(conversation)), route, now);
      });
    },

    async get(id) {
      return get(id);
    },

    async list(filter, page) {
      const where: string[] = [];
      const params: Record<string, string> = {};
      const add = (column: string, value: string | undefined) => {
        if (value === undefined) return;
        where.push(`${column} = :${column}`);
        params[column] = value;
      };
      add('bot_id', filter.botId);
      add('channel_id', filter.channelId);
      add('user_id', filter.userId);
      add('user_key', filter.userKey);
      if (filter.userIds !== undefined) {
        where.push('user_id IN (SELECT value FROM json_each(:user_ids))');
        params.user_ids = JSON.stringify(filter.userIds);
      }
      const { clause, extra } = pageClause(page, where);
      return db.all(`SELECT * FROM conversations ${clause}`, { ...params, ...extra }).map(conversationFromRow);
    },

    async latestPerChannel(userIds) {
      if (!userIds.length) return [];
      return db.all(
        `WITH ranked AS (
           SELECT c.*, row_number() OVER (PARTITION BY c.user_id, c.channel_id, c.mode = 'bot' ORDER BY c.last_message_at DESC, c.id DESC) AS rank_in_channel
           FROM conversations c WHERE c.user_id IN (SELECT value FROM json_each(?))
         )
         SELECT * FROM ranked WHERE rank_in_channel = 1 ORDER BY last_message_at DESC, id DESC`,
        [JSON.stringify(userIds)],
      ).map(conversationFromRow);
    },

    async withPendingTurns(limit, after = '') {
      return db.all(
        `SELECT DISTINCT conversation_id FROM messages WHERE turn_status = 'pending' AND conversation_id > ? ORDER BY conversation_id LIMIT ?`,
        [after, limit],
      ).map((r) => String(r.conversation_id));
    },

    async dropPendingTurns(conversationId) {
      return db.run(`UPDATE messages SET turn_status = 'done' WHERE conversation_id = ? AND turn_status = 'pending'`, [conversationId]).changes;
    },

    async act(conversationId, fn, route, now) {
      return db.tx(() => {
        const conversation = get(conversationId);
        if (!conversation) throw new Error(`no conversation ${conversationId}`);
        const open = db.get(`SELECT * FROM handoffs WHERE conversation_id = ? AND status IN ('waiting', 'active') ORDER BY id DESC LIMIT 1`, [conversationId]);
        const action = fn(conversation, open ? handoffFromRow(open) : null);
        const mode = action.mode ?? conversation.mode;
        const state = action.state === undefined ? conversation.state : action.state;
        const lastPrompt = action.lastPrompt ?? conversation.lastPrompt;
        db.run(`UPDATE conversations SET mode = ?, state = ?, last_prompt = ?, updated_at = ? WHERE id = ?`, [mode, state, JSON.stringify(lastPrompt), now, conversationId]);
        if (action.handoff) applyHandoff(conversationId, action.handoff, now);
        const published = action.messages.length ? publishInTx(action.messages, route, { now, ...ttl() }) : [];
        const handoffId = action.handoff?.id ?? (open ? String(open.id) : null);
        const handoff = handoffId ? db.get('SELECT * FROM handoffs WHERE id = ?', [handoffId]) : undefined;
        return { conversation: { ...conversation, mode, state, lastPrompt, updatedAt: now }, handoff: handoff ? handoffFromRow(handoff) : null, published };
      });
    },

    async replies(incomingId) {
      return db.all('SELECT * FROM messages WHERE reply_to = ? ORDER BY id', [incomingId]).map(messageFromRow);
    },
  };
}

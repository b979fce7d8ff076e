// PostgreSQL: conversations — incoming messages stored with their conversation, and turns run one at a time
// per conversation across processes (the conversation row is locked FOR UPDATE for the turn's transaction).
import { conversationFromRow, handoffFromRow, messageFromRow, withOptOut } from '../rows.ts';
import type { ConversationRecord, ConversationsRepo, HandoffOp, MessageRecord, ReceiveInput, Received, Router, TurnCommitted, TurnRunner, TurnWrites } from '../store.ts';
import { ItemFailed } from '../../group-commit.ts';
import { Params, type PgDb, type Sql } from './db.ts';
import type { PublishInTx } from './messages.ts';
import { pageClause } from './paging.ts';
import { linkIdentities } from './users.ts';

export function createConversationsRepo(db: PgDb, publishInTx: PublishInTx, idempotencyTtlMs: () => number): ConversationsRepo {
  const get = async (id: string) => {
    const row = await db.get('SELECT * FROM conversations WHERE id = $1', [id]);
    return row ? conversationFromRow(row) : null;
  };
  const notBefore = (now: number) => now - idempotencyTtlMs();

  /** Inside a transaction: the conversation (opened on first contact, row locked) with its user linked. */
  async function open(sql: Sql, input: ReceiveInput): Promise<ConversationRecord> {
    // The user the caller remembers is trusted for a conversation already theirs; any other is linked from its
    // identities anew: the user may have been deleted (with their conversations) since it was remembered.
    if (input.knownUserId) {
      const known = await sql.get(
        'UPDATE conversations SET last_message_at = $4 WHERE channel_id = $1 AND user_key = $2 AND user_id = $3 RETURNING *',
        [input.channelId, input.userKey, input.knownUserId, input.now],
        'botgate_receive_known',
      );
      if (known) return conversationFromRow(known);
    }
    const userId = input.identities.length ? await linkIdentities(sql, input.identities, input.newUserId, input.now) : null;
    const row = await sql.get(
      `INSERT INTO conversations (id, bot_id, channel_id, user_key, user_id, created_at, updated_at, last_message_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $6)
       ON CONFLICT (channel_id, user_key) DO UPDATE SET last_message_at = excluded.last_message_at,
         user_id = coalesce(excluded.user_id, conversations.user_id)
       RETURNING *`,
      [input.conversationId, input.botId, input.channelId, input.userKey, userId, input.now],
      'botgate_receive',
    );
    return conversationFromRow(row!);
  }

  /**
   * Inside a transaction: locks the conversation's row if it exists and nobody else holds it; true when it exists
   * and another transaction holds it (a new conversation has no row to wait for).
   */
  async function heldElsewhere(sql: Sql, input: ReceiveInput): Promise<boolean> {
    const params = [input.channelId, input.userKey];
    if (await sql.get('SELECT 1 FROM conversations WHERE channel_id = $1 AND user_key = $2 FOR UPDATE SKIP LOCKED', params, 'botgate_lock_unheld')) return false;
    return (await sql.get('SELECT 1 FROM conversations WHERE channel_id = $1 AND user_key = $2', params, 'botgate_conversation_exists')) !== undefined;
  }

  /** Inside a transaction: a change of handoff session (opened, assigned, closed). */
  async function applyHandoff(sql: Sql, conversationId: string, op: HandoffOp, now: number): Promise<void> {
    if (op.kind === 'open') {
      await sql.run(`INSERT INTO handoffs (id, conversation_id, status, reason, requested_at, updated_at) VALUES ($1, $2, 'waiting', $3, $4, $4)`, [op.id, conversationId, op.reason, now]);
    } else if (op.kind === 'assign') {
      await sql.run(`UPDATE handoffs SET status = 'active', agent_id = $1, assigned_at = $2, updated_at = $2 WHERE id = $3`, [op.agentId, now, op.id]);
    } else {
      await sql.run(
        `UPDATE handoffs SET status = 'closed', closed_by = $1, agent_id = coalesce($2, agent_id), resume_state = $3, closed_at = $4, updated_at = $4 WHERE id = $5`,
        [op.by, op.agentId, op.resumeState, now, op.id],
      );
    }
  }

  /** Inside a transaction: a turn's writes, the incoming message marked done, its messages published. */
  async function commit(sql: Sql, conversation: ConversationRecord, incoming: MessageRecord, writes: TurnWrites, route: Router, now: number): Promise<TurnCommitted> {
    const updated = await sql.get(
      `UPDATE conversations SET state = $1, memory = $2, last_prompt = $3, mode = $4, updated_at = $5 WHERE id = $6 RETURNING *`,
      [writes.state, JSON.stringify(writes.memory), JSON.stringify(writes.lastPrompt), writes.mode ?? conversation.mode, now, conversation.id],
      'botgate_turn_position',
    );
    if (incoming.turnStatus !== 'done') await sql.run(`UPDATE messages SET turn_status = 'done' WHERE id = $1`, [incoming.id], 'botgate_turn_done');
    if (writes.handoff) await applyHandoff(sql, conversation.id, writes.handoff, now);
    if (writes.optOut && conversation.userId) {
      const row = await sql.get('SELECT preferences FROM users WHERE id = $1 FOR UPDATE', [conversation.userId]);
      if (row) await sql.run('UPDATE users SET preferences = $1, updated_at = $2 WHERE id = $3', [withOptOut(String(row.preferences), writes.optOut.eventType), now, conversation.userId]);
    }
    let published = writes.messages.length ? await publishInTx(sql, writes.messages, route, notBefore(now)) : [];
    if (writes.announce) {
      const rows = await sql.all('SELECT * FROM messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT 20', [conversation.id]);
      const announced = writes.announce(rows.map(messageFromRow).reverse());
      if (announced.length) published = [...published, ...(await publishInTx(sql, announced, route, notBefore(now)))];
    }
    return { conversation: conversationFromRow(updated!), incoming: { ...incoming, turnStatus: 'done' }, published };
  }

  /** The open handoff session of a conversation a human has (read only when the mode says there is one). */
  async function openHandoff(sql: Sql, conversation: ConversationRecord) {
    if (conversation.mode === 'bot') return null;
    const row = await sql.get(`SELECT * FROM handoffs WHERE conversation_id = $1 AND status IN ('waiting', 'active') ORDER BY id DESC LIMIT 1`, [conversation.id]);
    return row ? handoffFromRow(row) : null;
  }

  async function receiveOne(sql: Sql, input: ReceiveInput, run: TurnRunner | null, route: Router, now: number): Promise<Received> {
    const conversation = await open(sql, input);
    const waiting = run
      ? await sql.get(`SELECT 1 FROM messages WHERE conversation_id = $1 AND turn_status = 'pending' LIMIT 1`, [conversation.id], 'botgate_waiting')
      : undefined;
    const [published] = await publishInTx(
      sql,
      [{ ...input.message, conversation: { conversationId: conversation.id, direction: 'incoming', replyTo: null } }],
      route,
      notBefore(input.now),
    );
    const received: Received = { conversation, message: published.message, duplicate: published.duplicate, turn: null, turnError: null };
    if (!run || published.duplicate || waiting) return received;
    let writes: TurnWrites;
    try {
      writes = run(conversation, published.message, await openHandoff(sql, conversation));
    } catch (error) {
      return { ...received, turnError: error };
    }
    received.turn = await commit(sql, conversation, published.message, writes, route, now);
    received.conversation = received.turn.conversation;
    return received;
  }

  return {
    async receive(input, route) {
      const { conversation, message, duplicate } = await db.txRetryingDeadlock((sql) => receiveOne(sql, input, null, route, input.now));
      return { conversation, message, duplicate };
    },

    async receiveAll(inputs, run, route, now) {
      // Conversation rows are locked in one global order (channel, user), so two processes committing batches
      // that share conversations cannot deadlock; a conversation's own messages keep their order (stable sort).
      const key = (input: ReceiveInput) => input.channelId + '\n' + input.userKey;
      const order = inputs.map((input, index) => ({ input, index })).sort((a, b) => key(a.input).localeCompare(key(b.input)) || a.index - b.index);
      // A conversation another process holds (its turn under way) is not waited for inside the batch: waiting
      // there would hold back every other conversation of the batch, and a user's next message, sent a moment
      // later to another process, could overtake one of them. Its messages go in a transaction of their own after.
      const deferred: typeof order = [];
      const out: (Received | ItemFailed)[] = new Array(inputs.length);
      await db.txRetryingDeadlock(async (sql) => {
        deferred.length = 0;
        const held = new Set<string>();
        for (const item of order) {
          if (held.has(key(item.input)) || (await heldElsewhere(sql, item.input))) {
            held.add(key(item.input));
            deferred.push(item);
            continue;
          }
          out[item.index] = await receiveOne(sql, item.input, run, route, now);
        }
      });
      // The batch's own transaction is stored: a deferred message the store refuses fails alone (its caller gets the
      // error, and so do the later messages of its conversation, which must not overtake it).
      const failedKeys = new Map<string, ItemFailed>();
      for (const { input, index } of deferred) {
        const earlier = failedKeys.get(key(input));
        if (earlier) {
          out[index] = earlier;
          continue;
        }
        try {
          out[index] = await db.txRetryingDeadlock((sql) => receiveOne(sql, input, run, route, now));
        } catch (error) {
          failedKeys.set(key(input), (out[index] = new ItemFailed(error)));
        }
      }
      return out;
    },

    async takeTurn(conversationId, run, route, now) {
      return db.tx(async (sql) => {
        const locked = await sql.get('SELECT * FROM conversations WHERE id = $1 FOR UPDATE', [conversationId], 'botgate_lock_conversation');
        if (!locked) return null;
        const row = await sql.get(
          `SELECT * FROM messages WHERE conversation_id = $1 AND turn_status = 'pending' ORDER BY id LIMIT 1`,
          [conversationId],
          'botgate_next_turn',
        );
        if (!row) return null;
        const conversation = conversationFromRow(locked);
        const incoming = messageFromRow(row);
        return commit(sql, conversation, incoming, run(conversation, incoming, await openHandoff(sql, conversation)), route, now);
      });
    },

    get,

    async list(filter, page) {
      const params = new Params();
      const where: string[] = [];
      const add = (column: string, value: string | undefined) => {
        if (value !== undefined) where.push(`${column} = ${params.add(value)}`);
      };
      add('bot_id', filter.botId);
      add('channel_id', filter.channelId);
      add('user_id', filter.userId);
      add('user_key', filter.userKey);
      if (filter.userIds !== undefined) where.push(`user_id = ANY(${params.add(filter.userIds)}::text[])`);
      return (await db.all(`SELECT * FROM conversations ${pageClause(page, where, params)}`, params.values)).map(conversationFromRow);
    },

    async latestPerChannel(userIds) {
      if (!userIds.length) return [];
      return (await db.all(
        `WITH ranked AS (
           SELECT c.*, row_number() OVER (PARTITION BY c.user_id, c.channel_id, c.mode = 'bot' ORDER BY c.last_message_at DESC, c.id DESC) AS rank_in_channel
           FROM conversations c WHERE c.user_id = ANY($1::text[])
         )
         SELECT * FROM ranked WHERE rank_in_channel = 1 ORDER BY last_message_at DESC, id DESC`,
        [userIds],
      )).map(conversationFromRow);
    },

    async withPendingTurns(limit, after = '') {
      return (await db.all(
        `SELECT DISTINCT conversation_id FROM messages WHERE turn_status = 'pending' AND conversation_id > $1 ORDER BY conversation_id LIMIT $2`,
        [after, limit],
      )).map((r) => String(r.conversation_id));
    },

    async dropPendingTurns(conversationId) {
      return db.run(`UPDATE messages SET turn_status = 'done' WHERE conversation_id = $1 AND turn_status = 'pending'`, [conversationId]);
    },

    async act(conversationId, fn, route, now) {
      return db.tx(async (sql) => {
        const locked = await sql.get('SELECT * FROM conversations WHERE id = $1 FOR UPDATE', [conversationId], 'botgate_lock_conversation');
        if (!locked) throw new Error(`no conversation ${conversationId}`);
        const conversation = conversationFromRow(locked);
        const open = await sql.get(`SELECT * FROM handoffs WHERE conversation_id = $1 AND status IN ('waiting', 'active') ORDER BY id DESC LIMIT 1`, [conversationId]);
        const action = fn(conversation, open ? handoffFromRow(open) : null);
        const updated = await sql.get(
          `UPDATE conversations SET mode = $1, state = $2, last_prompt = $3, updated_at = $4 WHERE id = $5 RETURNING *`,
          [action.mode ?? conversation.mode, action.state === undefined ? conversation.state : action.state, JSON.stringify(action.lastPrompt ?? conversation.lastPrompt), now, conversationId],
        );
        if (action.handoff) await applyHandoff(sql, conversationId, action.handoff, now);
        const published = action.messages.length ? await publishInTx(sql, action.messages, route, notBefore(now)) : [];
        const handoffId = action.handoff?.id ?? (open ? String(open.id) : null);
        const handoff = handoffId ? await sql.get('SELECT * FROM handoffs WHERE id = $1', [handoffId]) : undefined;
        return { conversation: conversationFromRow(updated!), handoff: handoff ? handoffFromRow(handoff) : null, published };
      });
    },

    async replies(incomingId) {
      return (await db.all('SELECT * FROM messages WHERE reply_to = $1 ORDER BY id', [incomingId])).map(messageFromRow);
    },
  };
}

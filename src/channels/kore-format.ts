// Bot messages in Kore.ai's webhook channel format: plain text stays a string; quick replies and buttons
// become Kore templates inside `text` (DESIGN.md, "Kore.ai Webhook channel v1").
import type { BotMessage } from '../conversation/bot.ts';

export type KoreText = string | KoreTemplate;

export interface KoreTemplate {
  type: 'template';
  payload: Record<string, unknown>;
}

export function koreText(message: BotMessage): KoreText {
  if (message.quickReplies?.length) {
    return {
      type: 'template',
      payload: {
        template_type: 'quick_replies',
        text: message.text,
        quick_replies: message.quickReplies.map((title) => ({ content_type: 'text', title, payload: title })),
      },
    };
  }
  if (message.buttons?.length) {
    return {
      type: 'template',
      payload: {
        template_type: 'button',
        text: message.text,
        buttons: message.buttons.map((b) => ('url' in b ? { type: 'web_url', title: b.title, url: b.url } : { type: 'postback', title: b.title, payload: b.payload })),
      },
    };
  }
  return message.text;
}

/** The synchronous answer: `text` is a single string for one message, else the list. */
export function koreSyncBody(replies: KoreText[], endOfTask: { reason: string } | null): Record<string, unknown> {
  const body: Record<string, unknown> = { text: replies.length === 1 ? replies[0] : replies };
  if (endOfTask) {
    body.endOfTask = true;
    body.endReason = endOfTask.reason;
  }
  return body;
}

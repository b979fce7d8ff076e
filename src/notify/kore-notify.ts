// Kore.ai's proactive notification API (POST {host}/api/public/bot/{botId}/notify): its URL and body. The
// endpoint sending there authenticates with auth kind kore_jwt (docs/delivery.md).

/** The channels Kore.ai's notify API sends to; botgate's notifications default to the first. */
export const KORE_NOTIFY_CHANNELS = ['msteams', 'slack'] as const;

export interface KoreNotifyArgs {
  /** `msteams` or `slack` (KORE_NOTIFY_CHANNELS). */
  channel: string;
  text: string;
  /** The users' identities (emails), as strings: Kore resolves them to the channel's users (`userIdentityType: resolve`). */
  identities: string[];
}

/** The JSON body of one text notification to the listed identities, as Kore.ai's API documents it. */
export function koreNotifyBody(args: KoreNotifyArgs): string {
  return JSON.stringify({
    channel: args.channel,
    userIdentityType: 'resolve',
    message: { type: 'text', val: args.text },
    identities: args.identities,
  });
}

/** The notify URL of a bot; `host` may end in a slash (https://bots.kore.ai/). */
export function koreNotifyUrl(host: string, botId: string): string {
  return `${host.replace(/\/+$/, '')}/api/public/bot/${encodeURIComponent(botId)}/notify`;
}

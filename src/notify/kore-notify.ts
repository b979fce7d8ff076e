// Kore.ai's proactive notification API (POST {host}/api/public/bot/{botId}/notify): its URL and body. The
// endpoint sending there authenticates with auth kind kore_jwt (docs/delivery.md).

export interface KoreNotifyArgs {
  channel: string;
  userIdentityType: string;
  text: string;
  identities: unknown[];
}

/** The JSON body of one text notification to the listed identities. */
export function koreNotifyBody(args: KoreNotifyArgs): string {
  return JSON.stringify({
    channel: args.channel,
    userIdentityType: args.userIdentityType,
    message: { type: 'text', val: args.text },
    identities: args.identities,
  });
}

/** The notify URL of a bot; `host` may end in a slash (https://bots.kore.ai/). */
export function koreNotifyUrl(host: string, botId: string): string {
  return `${host.replace(/\/+$/, '')}/api/public/bot/${encodeURIComponent(botId)}/notify`;
}

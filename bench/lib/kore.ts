// Sets up a Kore.ai webhook channel on a bench gateway through its admin API (a fresh app, a channel of the demo
// bot) and signs the JWT a Kore.ai integration would send; plus one probe request to see the bot answer.
import { request } from 'undici';
import { signKoreToken } from '../../src/channels/kore-auth.ts';
import type { Gateway } from './gateway.ts';
import type { Deadline } from './procs.ts';

export interface KoreChannel {
  channelId: string;
  /** The channel's path on the gateway (from the `url` the API returns). */
  path: string;
  /** `bearer <JWT>` signed with the app's client secret (no userIdentity: any from.id is accepted). */
  authorization: string;
}

export async function createKoreChannel(gateway: Gateway, botId: string, settings: { mode: 'sync' } | { mode: 'async'; post_url: string; access_token: string }, dl: Deadline): Promise<KoreChannel> {
  const appName = `bench-inbound-${Math.random().toString(36).slice(2, 8)}`;
  const app = await dl.race(gateway.api<{ client_id?: string; client_secret?: string }>('POST', '/api/apps', { name: appName }), 'POST /api/apps');
  if (app.status !== 201 || !app.body.client_id || !app.body.client_secret) throw new Error(`POST /api/apps answered ${app.status}: ${JSON.stringify(app.body).slice(0, 500)}`);
  const channel = await dl.race(
    gateway.api<{ id?: string; url?: string }>('POST', `/api/bots/${botId}/channels`, { ...settings, name: `bench ${settings.mode}`, app_id: app.body.client_id }),
    `POST /api/bots/${botId}/channels`,
  );
  if (channel.status !== 201 || !channel.body.id || !channel.body.url) throw new Error(`POST /api/bots/${botId}/channels answered ${channel.status}: ${JSON.stringify(channel.body).slice(0, 500)}`);
  // The API answers with the public URL; the bench talks to the loopback port, so only the path is kept.
  const path = new URL(channel.body.url).pathname;
  const jwt = await signKoreToken(new TextEncoder().encode(app.body.client_secret), { clientId: app.body.client_id, sub: 'bench' }, Date.now());
  return { channelId: channel.body.id, path, authorization: `bearer ${jwt}` };
}

/** One Kore request as wrk sends them; the answer's status and body text. */
export async function koreRequest(base: string, path: string, authorization: string, text: string, userId: string, dl: Deadline): Promise<{ status: number; body: string }> {
  const send = async () => {
    const res = await request(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ message: { text }, from: { id: userId } }),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    return { status: res.statusCode, body: await res.body.text() };
  };
  return dl.race(send(), `the probe request to ${path}`);
}

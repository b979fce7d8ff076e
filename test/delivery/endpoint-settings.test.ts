// An endpoint's settings as the API takes them: event_types filters, retry schedules, custom headers; what each
// accepted one means for routing, and a coded 400 naming the field for each one that could not mean anything.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endpointAccepts } from '../../src/delivery/event-types.ts';
import { eventually } from '../helpers/gateway.ts';
import { gatewayAndReceiver } from '../helpers/gateway-receiver.ts';

describe('endpoint settings', () => {
  const f = gatewayAndReceiver();

  const create = (body: Record<string, unknown>) => f.gw.api('POST', '/api/endpoints', { name: 'rx', url: f.rx.url, ...body });
  const created = async (body: Record<string, unknown>) => {
    const res = await create(body);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { id: string };
  };
  const refused = (res: { status: number; body: any }, field: RegExp, code = 'BG_ERR_VALIDATION') => {
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.code, code);
    assert.match(res.body.message, field);
  };

  it('takes "*" as every event type, like null, and [] as none published here (only what names the endpoint)', async () => {
    const star = await created({ event_types: ['*'] });
    const all = await created({ event_types: null });
    const none = await created({ event_types: [] });
    const published = (await f.gw.api('POST', '/api/messages', { event_type: 'any.thing', payload: { a: 1 } })).body;
    const targets = (await f.gw.api('GET', `/api/deliveries?message_id=${published.id}`)).body.data.map((d: { endpoint_id: string }) => d.endpoint_id);
    assert.ok(targets.includes(star.id), 'a "*" filter takes every type');
    assert.ok(targets.includes(all.id));
    assert.ok(!targets.includes(none.id), '[] takes no published type');
    // Named explicitly, the filter still applies; a test send names it regardless.
    assert.deepEqual((await f.gw.api('POST', '/api/messages', { event_type: 'any.thing', payload: {}, endpoint_ids: [none.id] })).body.delivery_ids, []);
    assert.equal((await f.gw.api('POST', `/api/endpoints/${none.id}/test`)).body.delivery_ids.length, 1);
    for (const id of [star.id, all.id, none.id]) await f.gw.api('DELETE', `/api/endpoints/${id}`);
  });

  it('keeps the operational types from "*" as from null; names and patterns take them', () => {
    for (const type of ['endpoint.disabled', 'message.attempt.exhausted']) {
      assert.equal(endpointAccepts(['*'], type), false);
      assert.equal(endpointAccepts(null, type), false);
      assert.equal(endpointAccepts([type], type), true);
    }
    assert.equal(endpointAccepts(['endpoint.*'], 'endpoint.disabled'), true);
    assert.equal(endpointAccepts(['*'], 'order.confirmed'), true);
  });

  it('refuses a "*" out of place, or a character no event type has, naming the entry, on create and PATCH alike', async () => {
    const ep = await created({ event_types: ['order.*'] });
    for (const bad of ['a*b', '**', '*.x', '.*', 'order.*.x', 'order*', 'has space', '']) {
      refused(await create({ event_types: ['ok.type', bad] }), /event_types\.1/);
      refused(await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { event_types: [bad] }), /event_types\.0/);
    }
    assert.deepEqual((await f.gw.api('GET', `/api/endpoints/${ep.id}`)).body.event_types, ['order.*'], 'a refused PATCH changes nothing');
    for (const good of [['*'], [], ['order.*', 'x.y:z_1-2'], null]) {
      const res = await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { event_types: good });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.event_types, good);
    }
    await f.gw.api('DELETE', `/api/endpoints/${ep.id}`);
  });

  it('refuses a retry_schedule that does not start with 0 (the first attempt is at once), on create and PATCH', async () => {
    refused(await create({ retry_schedule: [5, 10] }), /retry_schedule\.0 must be 0/);
    const ep = await created({ retry_schedule: [0, 10] });
    refused(await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { retry_schedule: [1] }), /retry_schedule\.0 must be 0/);
    assert.deepEqual((await f.gw.api('GET', `/api/endpoints/${ep.id}`)).body.retry_schedule, [0, 10]);
    assert.deepEqual((await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { retry_schedule: [0] })).body.retry_schedule, [0]);
    await f.gw.api('DELETE', `/api/endpoints/${ep.id}`);
  });

  it('refuses custom headers botgate writes itself, a name given twice in two cases, or too many, naming the header', async () => {
    for (const name of ['User-Agent', 'webhook-id', 'Webhook-Version', 'content-type', 'Host']) {
      refused(await create({ custom_headers: { [name]: 'x' } }), new RegExp(`custom_headers: ${name} is set by botgate`));
    }
    refused(await create({ auth: { kind: 'header', name: 'user-agent', value: 'x' } }), /auth\.name: user-agent is set by botgate/);
    refused(await create({ custom_headers: { 'X-A': '1', 'x-a': '2' } }), /custom_headers: x-a is given twice/);
    const ep = await created({ custom_headers: { 'X-Tenant': 'acme' } });
    refused(await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { custom_headers: { 'x-b': '1', 'X-B': '2' } }), /custom_headers: X-B is given twice/);
    assert.deepEqual((await f.gw.api('GET', `/api/endpoints/${ep.id}`)).body.custom_headers, { 'x-tenant': 'acme' });
    // From a config file (YAML makes __proto__ an own key) the service is the one to refuse it, not drop it silently.
    await assert.rejects(f.gw.endpoints.create({ name: 'from config', url: f.rx.url, custom_headers: JSON.parse('{"__proto__": "x", "x-a": "1"}') }), /custom_headers: __proto__ is not taken/);
    // A platform config's headers are its endpoint's: the same rules, and the same limit.
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`x-h${i}`, 'v']));
    const platform = (body: Record<string, unknown>) => f.gw.api('POST', '/api/webhook/config', { name: `p${Math.random()}`, bot: 'none', outgoing_webhook_url: f.rx.url, ...body });
    refused(await platform({ custom_headers: many }), /custom_headers/);
    await f.gw.api('DELETE', `/api/endpoints/${ep.id}`);
  });

  it('refuses an auth header named __proto__, which would be sent as no header at all (as custom_headers refuses it)', async () => {
    refused(await create({ auth: { kind: 'header', name: '__proto__', value: 'secret' } }), /auth\.name: __proto__ is not taken/);
    refused(await create({ auth: { kind: 'kore_jwt', client_id: 'cs-1', client_secret: 's', header: '__PROTO__' } }), /auth\.header: __proto__ is not taken/i);
    const ep = await created({});
    refused(await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { auth: { kind: 'header', name: '__proto__', value: 'secret' } }), /auth\.name: __proto__/);
    assert.deepEqual((await f.gw.api('GET', `/api/endpoints/${ep.id}`)).body.auth, { kind: 'none' });
    await f.gw.api('DELETE', `/api/endpoints/${ep.id}`);
  });

  it('sends the custom headers it takes as given, and its own user agent', async () => {
    const ep = await created({ url: `${f.rx.url}/headers`, event_types: ['hdr.check'], custom_headers: { 'X-Tenant': 'acme' } });
    const sent = (await f.gw.api('POST', '/api/messages', { event_type: 'hdr.check', payload: {}, endpoint_ids: [ep.id] })).body;
    const req = await eventually(() => f.rx.requests.find((r) => r.url === '/hook/headers' && r.headers['webhook-id'] === sent.id));
    assert.equal(req.headers['x-tenant'], 'acme');
    assert.match(String(req.headers['user-agent']), /^botgate-webhooks\//);
    await f.gw.api('DELETE', `/api/endpoints/${ep.id}`);
  });

  it('refuses a URL on port 0, which no try could reach', async () => {
    refused(await create({ url: 'http://hooks.example.com:0/x' }), /url must not name port 0/);
    const ep = await created({});
    refused(await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { url: 'https://hooks.example.com:00/' }), /port 0/);
    await f.gw.api('DELETE', `/api/endpoints/${ep.id}`);
  });

  it('refuses a name of only spaces, as apps and agents do, on create and PATCH', async () => {
    refused(await create({ name: '   ' }), /name must be 1 to 200 characters, not only white space or format characters/);
    const ep = await created({});
    refused(await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { name: ' \t ' }), /name must be/);
    refused(await f.gw.api('PATCH', `/api/endpoints/${ep.id}`, { name: '\u200b' }), /name must be/);
    await f.gw.api('DELETE', `/api/endpoints/${ep.id}`);
  });
});

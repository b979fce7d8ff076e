// /api/notify and /api/producer-keys through the real HTTP app on both stores: event types and their overrides
// (which the engine uses at once), template variants with their stats and a freeze the next decisions follow,
// decisions and reason counts, feeds, producer keys; 401 without the admin token, 400s and 404s.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { testBackends } from '../helpers/backends.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { startNotifyFixture, type NotifyFixture } from './notify-helpers.ts';

for (const backend of await testBackends()) {
  describe(`notifications admin API (${backend.name})`, { skip: backend.skip }, () => {
    let gw: TestGateway;
    let rx: Receiver;
    let endpointId: string;
    let fixture: NotifyFixture;

    before(async () => {
      fixture = await startNotifyFixture(backend);
      ({ gw, rx, endpointId } = fixture);
    });

    after(async () => fixture.close());

    /** A critical type sent to the test endpoint: decided without the value test, so every event is sent. */
    async function criticalType(name: string, extra: Record<string, unknown> = {}) {
      const response = await gw.api('PUT', `/api/notify/types/${name}`, { critical: true, endpoint_id: endpointId, ...extra });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body;
    }

    it('refuses every admin route without the admin token', async () => {
      const routes = [
        ['GET', '/api/notify/types'], ['GET', '/api/notify/types/low_balance'], ['PUT', '/api/notify/types/low_balance'], ['DELETE', '/api/notify/types/low_balance'],
        ['GET', '/api/notify/types/low_balance/variants'], ['POST', '/api/notify/types/low_balance/variants/a/freeze'], ['POST', '/api/notify/types/low_balance/variants/unfreeze'],
        ['GET', '/api/notify/decisions'], ['GET', '/api/notify/stats'], ['GET', '/api/notify/feeds'], ['POST', '/api/notify/feeds'], ['GET', '/api/notify/feeds/feed_x'],
        ['PATCH', '/api/notify/feeds/feed_x'], ['DELETE', '/api/notify/feeds/feed_x'], ['GET', '/api/producer-keys'], ['POST', '/api/producer-keys'], ['DELETE', '/api/producer-keys/pk_x'],
      ] as const;
      for (const [method, url] of routes) {
        const response = await gw.app.inject({ method, url });
        assert.equal(response.statusCode, 401, `${method} ${url}`);
        assert.equal(response.json().code, 'BG_ERR_UNAUTHORIZED');
      }
    });

    it('documents every route in the OpenAPI document', async () => {
      const doc = JSON.parse((await gw.app.inject({ url: '/openapi.json' })).body);
      for (const path of [
        '/api/users/{id}', '/api/users/{id}/export', '/api/notify/types', '/api/notify/types/{name}', '/api/notify/types/{name}/variants',
        '/api/notify/types/{name}/variants/{variant}/freeze', '/api/notify/types/{name}/variants/unfreeze', '/api/notify/decisions', '/api/notify/stats',
        '/api/notify/feeds', '/api/notify/feeds/{id}', '/api/producer-keys', '/api/producer-keys/{id}',
      ]) assert.ok(doc.paths[path], `${path} documented`);
      assert.ok(doc.paths['/api/users/{id}'].put.requestBody);
    });

    it('lists the configured event types with their effective settings, snake_case', async () => {
      const listed = await gw.api('GET', '/api/notify/types');
      assert.equal(listed.status, 200);
      const byName = new Map(listed.body.data.map((t: { name: string }) => [t.name, t]));
      for (const name of ['default', 'payment_failed', 'security_*', 'low_balance', 'marketing_offer']) assert.ok(byName.has(name), name);
      const low = byName.get('low_balance') as Record<string, unknown>;
      assert.equal(low.value, 0.8);
      assert.equal(low.cooldown_hours, 12);
      assert.equal(low.critical, false);
      assert.deepEqual(low.templates, [{ id: 'a', text: 'Your account balance is low. Would you like to top up?' }]);
      for (const key of ['cost', 'ttl_hours', 'dedup_fields', 'digest_minutes', 'frozen_variant', 'endpoint_id', 'link_url', 'prior_mean', 'overridden']) assert.ok(key in low, key);

      const one = await gw.api('GET', '/api/notify/types/payment_failed');
      assert.equal(one.status, 200);
      assert.equal(one.body.critical, true);
      const pattern = await gw.api('GET', '/api/notify/types/security_login');
      assert.equal(pattern.status, 200, 'a name a prefix pattern covers is configured');
      assert.equal(pattern.body.critical, true);
      const unknown = await gw.api('GET', '/api/notify/types/never_configured');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'BG_ERR_EVENT_TYPE_NOT_FOUND');
    });

    it('stores overrides merged with the earlier one, used by the engine at once; DELETE goes back to the config', async () => {
      const first = await gw.api('PUT', '/api/notify/types/trial_expiring', { cooldown_hours: 6 });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const second = await gw.api('PUT', '/api/notify/types/trial_expiring', { value: 0.9, link_url: 'https://example.com/upgrade' });
      assert.equal(second.status, 200);
      assert.equal(second.body.cooldown_hours, 6, 'the earlier override stays');
      assert.equal(second.body.value, 0.9);
      assert.deepEqual([...second.body.overridden].sort(), ['cooldown_hours', 'link_url', 'value']);
      assert.equal(gw.notify.engine.type('trial_expiring').cooldownHours, 6);
      assert.equal(gw.notify.engine.type('trial_expiring').linkUrl, 'https://example.com/upgrade');
      assert.equal((await gw.api('GET', '/api/notify/types/trial_expiring')).body.value, 0.9);

      const removed = await gw.api('DELETE', '/api/notify/types/trial_expiring');
      assert.equal(removed.status, 204);
      const back = await gw.api('GET', '/api/notify/types/trial_expiring');
      assert.deepEqual([back.body.cooldown_hours, back.body.value, back.body.overridden], [24, 0.7, []]);
      assert.equal(gw.notify.engine.type('trial_expiring').cooldownHours, 24);
      const again = await gw.api('DELETE', '/api/notify/types/trial_expiring');
      assert.equal(again.status, 404);
      assert.equal(again.body.code, 'BG_ERR_EVENT_TYPE_NOT_FOUND');

      // A new name becomes a configured type, listed with the others; deciding it uses the override.
      await criticalType('order_shipped', { templates: [{ id: 'a', text: 'Order {{params.order}} shipped' }] });
      assert.ok((await gw.api('GET', '/api/notify/types')).body.data.some((t: { name: string }) => t.name === 'order_shipped'));
      const [d] = await gw.notify.engine.decide([{ userId: 'u-ship', eventType: 'order_shipped', params: { order: 'A-1' } }]);
      assert.deepEqual([d.decision, d.reason], ['notify', 'critical']);
      assert.equal((await gw.store.notify.notification(d.notificationId!))?.text, 'Order A-1 shipped');
      // An empty PUT configures a new name too, and unfreezing a type known only by its override keeps it.
      assert.equal((await gw.api('PUT', '/api/notify/types/plain_new', {})).status, 200);
      assert.equal((await gw.api('GET', '/api/notify/types/plain_new')).status, 200);
      await gw.api('PUT', '/api/notify/types/frozen_new', { frozen_variant: 'a' });
      const unfrozen = await gw.api('POST', '/api/notify/types/frozen_new/variants/unfreeze');
      assert.deepEqual([unfrozen.status, unfrozen.body.frozen_variant], [200, null]);
    });

    it('answers 400 for bad type settings and 404 for an unknown endpoint', async () => {
      const bad = [
        [{ cost: -1 }, 'BG_ERR_VALIDATION', /cost/],
        [{ prior_mean: 1 }, 'BG_ERR_VALIDATION', /prior_mean/],
        [{ ttl_hours: 0 }, 'BG_ERR_VALIDATION', /ttl_hours/],
        // Times past a year would not be dates (a user's export answered 500 with ttl_hours 3e9).
        [{ ttl_hours: 3e9 }, 'BG_ERR_VALIDATION', /ttl_hours/],
        [{ cooldown_hours: 8761 }, 'BG_ERR_VALIDATION', /cooldown_hours/],
        [{ digest_minutes: 1e300 }, 'BG_ERR_VALIDATION', /digest_minutes/],
        [{ templates: [] }, 'BG_ERR_VALIDATION', /templates/],
        [{ templates: [{ id: 'a', text: 'x' }, { id: 'a', text: 'y' }] }, 'BG_ERR_VALIDATION', /unique/],
        // A template reading nothing a notification has would always render empty (a typo of params).
        [{ templates: [{ id: 'a', text: 'Hi {{params.name}}' }, { id: 'b', text: 'Hi {{parms.name}}' }] }, 'BG_ERR_VALIDATION', /^body\.templates\.1\.text: \{\{parms\.name\}\} is nothing a notification has/],
        [{ templates: [{ id: 'a', text: 'Hi {{memory.name}}' }] }, 'BG_ERR_VALIDATION', /memory\.name/],
        [{ frozen_variant: 'zz' }, 'BG_ERR_VALIDATION', /frozen_variant/],
        [{ link_url: 'javascript:alert(1)' }, 'BG_ERR_VALIDATION', /link_url must be an http\(s\) URL, not javascript:/],
        [{ link_url: 'data:text/html,hi' }, 'BG_ERR_VALIDATION', /link_url/],
        [{ link_url: '/relative' }, 'BG_ERR_VALIDATION', /link_url must be an absolute/],
        [{ link_url: '{{params.u}}' }, 'BG_ERR_VALIDATION', /params\.url/],
        [{ priority: 3 }, 'BG_ERR_UNKNOWN_FIELD', /priority/],
      ] as const;
      for (const [body, code, message] of bad) {
        const response = await gw.api('PUT', '/api/notify/types/low_balance', body);
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.code, code);
        assert.match(response.body.message, message);
      }
      const noEndpoint = await gw.api('PUT', '/api/notify/types/low_balance', { endpoint_id: 'ep_missing' });
      assert.equal(noEndpoint.status, 404);
      assert.equal(noEndpoint.body.code, 'BG_ERR_ENDPOINT_NOT_FOUND');
      const badName = await gw.api('PUT', '/api/notify/types/bad%20name', { value: 1 });
      assert.equal(badName.status, 400);
      assert.deepEqual((await gw.api('GET', '/api/notify/types/low_balance')).body.overridden, [], 'nothing was stored');
    });

    it('shows no frozen variant where a pattern froze one the type\'s own templates lack', async () => {
      assert.equal((await gw.api('PUT', '/api/notify/types/security_*', { templates: [{ id: 'p', text: 'Security: {{params.what|a change}}' }], frozen_variant: 'p' })).status, 200);
      assert.equal((await gw.api('GET', '/api/notify/types/security_alert')).body.frozen_variant, 'p', 'a type with the pattern\'s templates is frozen');
      const own = await gw.api('PUT', '/api/notify/types/security_login', { templates: [{ id: 'q', text: 'New sign-in' }] });
      assert.deepEqual([own.status, own.body.frozen_variant], [200, null]);
      assert.equal(gw.notify.engine.type('security_login').frozenVariant, null);
      await gw.api('DELETE', '/api/notify/types/security_login');
      await gw.api('DELETE', '/api/notify/types/security_*');
    });

    it('shows variant stats, and a frozen variant is the one the next decisions use', async () => {
      await criticalType('promo_alert', { templates: [{ id: 'a', text: 'Text A' }, { id: 'b', text: 'Text B' }] });
      const first = await gw.notify.engine.decide(Array.from({ length: 6 }, (_, i) => ({ userId: `u-var-${i}`, eventType: 'promo_alert', params: { i } })));
      assert.ok(first.every((d) => d.decision === 'notify'));
      await gw.notify.engine.recordClick(first[0].notificationId!);

      const variants = await gw.api('GET', '/api/notify/types/promo_alert/variants');
      assert.equal(variants.status, 200, JSON.stringify(variants.body));
      assert.equal(variants.body.frozen_variant, null);
      assert.deepEqual(variants.body.data.map((v: { id: string }) => v.id), ['a', 'b']);
      const shown = variants.body.data.reduce((sum: number, v: { shown: number }) => sum + v.shown, 0);
      const clicked = variants.body.data.reduce((sum: number, v: { clicked: number }) => sum + v.clicked, 0);
      assert.ok(Math.abs(shown - 6) < 0.01 && Math.abs(clicked - 1) < 0.01, JSON.stringify(variants.body.data));
      const probability = variants.body.data.reduce((sum: number, v: { probability_best: number }) => sum + v.probability_best, 0);
      assert.ok(Math.abs(probability - 1) < 1e-9);
      for (const v of variants.body.data) assert.ok(v.shown === 0 ? v.rate === null : Math.abs(v.rate - v.clicked / v.shown) < 1e-9);

      const frozen = await gw.api('POST', '/api/notify/types/promo_alert/variants/b/freeze');
      assert.equal(frozen.status, 200, JSON.stringify(frozen.body));
      assert.equal(frozen.body.frozen_variant, 'b');
      assert.equal((await gw.api('GET', '/api/notify/types/promo_alert/variants')).body.frozen_variant, 'b');
      const next = await gw.notify.engine.decide(Array.from({ length: 8 }, (_, i) => ({ userId: `u-frozen-${i}`, eventType: 'promo_alert', params: { i } })));
      assert.deepEqual(next.map((d) => d.variant), Array(8).fill('b'));
      assert.equal((await gw.store.notify.notification(next[0].notificationId!))?.text, 'Text B');

      const unfrozen = await gw.api('POST', '/api/notify/types/promo_alert/variants/unfreeze', {});
      assert.equal(unfrozen.status, 200);
      assert.equal(unfrozen.body.frozen_variant, null);
      assert.ok(!unfrozen.body.overridden.includes('frozen_variant'));
      assert.equal(gw.notify.engine.type('promo_alert').frozenVariant, null);

      const unknownVariant = await gw.api('POST', '/api/notify/types/promo_alert/variants/zz/freeze');
      assert.equal(unknownVariant.status, 404);
      assert.equal(unknownVariant.body.code, 'BG_ERR_VARIANT_NOT_FOUND');
      for (const url of ['/api/notify/types/nope_type/variants/a/freeze', '/api/notify/types/nope_type/variants/unfreeze']) {
        const response = await gw.api('POST', url);
        assert.equal(response.status, 404, url);
        assert.equal(response.body.code, 'BG_ERR_EVENT_TYPE_NOT_FOUND');
      }
      assert.equal((await gw.api('GET', '/api/notify/types/nope_type/variants')).status, 404);
    });

    it('lists decisions newest first with filters and cursor paging, and counts them by type × decision × reason', async () => {
      await criticalType('stats_probe');
      const made = await gw.notify.engine.decide([
        { userId: 'u-stats-1', eventType: 'stats_probe', params: { n: 1 } },
        { userId: 'u-stats-2', eventType: 'stats_probe', params: { n: 2 } },
        { userId: 'u-stats-1', eventType: 'stats_probe', params: { n: 1 } }, // the same event again: dedup
        { userId: 'u-stats-3', eventType: 'stats_probe', params: { n: 3 }, deliverAt: Date.now() + 3_600_000 },
      ]);
      assert.deepEqual(made.map((d) => d.reason), ['critical', 'critical', 'dedup', 'scheduled']);

      const all = await gw.api('GET', '/api/notify/decisions?event_type=stats_probe');
      assert.equal(all.status, 200);
      assert.deepEqual(all.body.data.map((d: { id: string }) => d.id), made.map((d) => d.id).reverse());
      const one = all.body.data.find((d: { id: string }) => d.id === made[0].id);
      assert.deepEqual([one.user_id, one.event_type, one.decision, one.reason, one.notification_id], ['u-stats-1', 'stats_probe', 'notify', 'critical', made[0].notificationId]);
      assert.equal(all.body.data.find((d: { id: string }) => d.id === made[2].id).duplicate_of, made[0].id);

      const byUser = await gw.api('GET', '/api/notify/decisions?event_type=stats_probe&user_id=u-stats-1');
      assert.deepEqual(byUser.body.data.map((d: { id: string }) => d.id), [made[2].id, made[0].id]);
      const byReason = await gw.api('GET', '/api/notify/decisions?reason=dedup&event_type=stats_probe');
      assert.deepEqual(byReason.body.data.map((d: { id: string }) => d.id), [made[2].id]);

      const page1 = await gw.api('GET', '/api/notify/decisions?event_type=stats_probe&limit=3');
      assert.equal(page1.body.data.length, 3);
      assert.ok(page1.body.next_cursor);
      const page2 = await gw.api('GET', `/api/notify/decisions?event_type=stats_probe&limit=3&cursor=${page1.body.next_cursor}`);
      assert.deepEqual(page2.body.data.map((d: { id: string }) => d.id), [made[0].id]);
      assert.equal(page2.body.next_cursor, null);
      assert.equal((await gw.api('GET', '/api/notify/decisions?limit=0')).status, 400);

      const stats = await gw.api('GET', `/api/notify/stats?since=${new Date(Date.now() - 3_600_000).toISOString()}`);
      assert.equal(stats.status, 200, JSON.stringify(stats.body));
      const probe = stats.body.data.filter((r: { event_type: string }) => r.event_type === 'stats_probe').map((r: Record<string, unknown>) => [r.decision, r.reason, r.count]);
      assert.deepEqual(probe.sort(), [['defer', 'scheduled', 1], ['notify', 'critical', 2], ['skip', 'dedup', 1]].sort());
      assert.ok(stats.body.totals.notify >= 2 && stats.body.totals.skip >= 1 && stats.body.totals.defer >= 1);
      // Where the notifications went: the two critical ones sent, the scheduled one still pending.
      const outcomes = stats.body.outcomes.filter((r: { event_type: string }) => r.event_type === 'stats_probe').map((r: Record<string, unknown>) => [r.status, r.reason, r.count]);
      assert.deepEqual(outcomes, [['pending', 'scheduled', 1], ['sent', 'critical', 2]]);
      const future = await gw.api('GET', `/api/notify/stats?since=${new Date(Date.now() + 3_600_000).toISOString()}`);
      assert.deepEqual([future.body.data, future.body.outcomes], [[], []]);
      assert.equal((await gw.api('GET', '/api/notify/stats')).status, 200, 'since defaults to 7 days ago');
      assert.equal((await gw.api('GET', '/api/notify/stats?since=yesterday')).status, 400);
    });

    it('creates, lists, changes and deletes feeds; a new cron moves the next run', async () => {
      const created = await gw.api('POST', '/api/notify/feeds', { name: 'weekly', cron: '0 9 * * 1', tz: 'Europe/Berlin', event_type: 'digest_weekly', user_ids: ['u1', 'u2'], params: { kind: 'weekly' } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const feed = created.body;
      assert.match(feed.id, /^feed_/);
      assert.deepEqual([feed.name, feed.cron, feed.tz, feed.event_type, feed.user_ids, feed.params, feed.is_active, feed.last_run_at], ['weekly', '0 9 * * 1', 'Europe/Berlin', 'digest_weekly', ['u1', 'u2'], { kind: 'weekly' }, true, null]);
      const next = new Date(feed.next_run_at);
      assert.ok(next.getTime() > Date.now());
      assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(next), 'Mon 09:00');

      const defaults = await gw.api('POST', '/api/notify/feeds', { name: 'daily', cron: '0 8 * * *', event_type: 'digest_daily', user_ids: [] });
      assert.equal(defaults.status, 201);
      assert.equal(defaults.body.tz, 'UTC', 'notify.default_tz');
      const again = await gw.api('POST', '/api/notify/feeds', { name: 'daily', cron: '0 7 * * *', event_type: 'digest_daily', user_ids: [] });
      assert.deepEqual([again.status, again.body.code], [409, 'BG_ERR_CONFLICT'], 'a name taken');
      assert.equal(again.body.message, `A feed named "daily" exists (${defaults.body.id}); feed names are unique`, 'says which, not which table');
      const taken = await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, { name: 'daily' });
      assert.deepEqual([taken.status, taken.body.code], [409, 'BG_ERR_CONFLICT']);
      assert.match(taken.body.message, /^A feed named "daily" exists/);

      for (const [body, message] of [
        [{ name: 'x', cron: 'every monday', event_type: 't', user_ids: [] }, /cron/],
        [{ name: 'x', cron: '0 9 * * 1', tz: 'Nowhere/City', event_type: 't', user_ids: [] }, /time zone/],
        [{ name: 'x', cron: '0 9 * * 1', event_type: 't' }, /user_ids/],
        [{ name: 'x', cron: '0 0 30 2 *', event_type: 't', user_ids: [] }, /never fires/],
        [{ name: 'x', cron: '0 0 31 4 *', event_type: 't', user_ids: [] }, /never fires/],
      ] as const) {
        const response = await gw.api('POST', '/api/notify/feeds', body);
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.code, 'BG_ERR_VALIDATION');
        assert.match(response.body.message, message);
      }

      const listed = await gw.api('GET', '/api/notify/feeds');
      assert.deepEqual(listed.body.data.map((f: { name: string }) => f.name).sort(), ['daily', 'weekly']);
      assert.deepEqual((await gw.api('GET', `/api/notify/feeds/${feed.id}`)).body, feed);
      assert.equal((await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, { name: 'weekly' })).status, 200, 'its own name');

      const renamed = await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, { name: 'weekly-2', user_ids: ['u3'] });
      assert.equal(renamed.status, 200);
      assert.deepEqual([renamed.body.name, renamed.body.user_ids, renamed.body.next_run_at], ['weekly-2', ['u3'], feed.next_run_at]);
      const recron = await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, { cron: '30 7 * * *', tz: 'Asia/Tokyo' });
      assert.equal(recron.status, 200);
      assert.notEqual(recron.body.next_run_at, feed.next_run_at);
      assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit' }).format(new Date(recron.body.next_run_at)), '07:30');
      assert.ok(Date.parse(recron.body.next_run_at) - Date.now() <= 86_400_000);
      // Quartz's "?" is "no specific day": daily here, not monthly on the day it was parsed.
      const quartz = await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, { cron: '0 6 ? * *', tz: null });
      assert.equal(quartz.status, 200, JSON.stringify(quartz.body));
      assert.equal(quartz.body.tz, 'UTC', 'null: back to notify.default_tz');
      assert.ok(Date.parse(quartz.body.next_run_at) - Date.now() <= 86_400_000, quartz.body.next_run_at);
      const nullZone = await gw.api('POST', '/api/notify/feeds', { name: 'null-zone', cron: '0 8 * * *', tz: null, event_type: 'digest_daily', user_ids: [] });
      assert.deepEqual([nullZone.status, nullZone.body.tz], [201, 'UTC']);
      assert.equal((await gw.api('DELETE', `/api/notify/feeds/${nullZone.body.id}`)).status, 204);
      for (const body of [{ cron: 'nonsense' }, { tz: 'Nowhere/City' }, { is_active: 'no' }, { cron: '0 0 30 2 *' }]) {
        const response = await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, body);
        assert.equal(response.status, 400, JSON.stringify(body));
      }
      assert.equal((await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, { owner: 'me' })).body.code, 'BG_ERR_UNKNOWN_FIELD');
      const paused = await gw.api('PATCH', `/api/notify/feeds/${feed.id}`, { is_active: false });
      assert.equal(paused.body.is_active, false);

      assert.equal((await gw.api('DELETE', `/api/notify/feeds/${feed.id}`)).status, 204);
      for (const [method, body] of [['GET', undefined], ['PATCH', { name: 'x' }], ['DELETE', undefined]] as const) {
        const response = await gw.api(method, `/api/notify/feeds/${feed.id}`, body);
        assert.equal(response.status, 404, method);
        assert.equal(response.body.code, 'BG_ERR_FEED_NOT_FOUND');
      }
    });

    it('creates producer keys shown once, lists them without the key, and revokes them', async () => {
      const created = await gw.api('POST', '/api/producer-keys', { name: 'billing' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.match(created.body.key, /^bgk_/);
      assert.equal(created.body.name, 'billing');
      assert.ok(!Number.isNaN(Date.parse(created.body.created_at)));
      assert.equal(await gw.notify.producerKeyValid(created.body.key), true);

      const listed = await gw.api('GET', '/api/producer-keys');
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.data, [{ id: created.body.id, name: 'billing', created_at: created.body.created_at }]);
      assert.ok(!JSON.stringify(listed.body).includes(created.body.key));

      for (const body of [{}, { name: '' }, { name: 'x', scope: 'all' }]) assert.equal((await gw.api('POST', '/api/producer-keys', body)).status, 400);

      assert.equal((await gw.api('DELETE', `/api/producer-keys/${created.body.id}`)).status, 204);
      assert.equal(await gw.notify.producerKeyValid(created.body.key), false);
      assert.deepEqual((await gw.api('GET', '/api/producer-keys')).body.data, []);
      const again = await gw.api('DELETE', `/api/producer-keys/${created.body.id}`);
      assert.equal(again.status, 404);
      assert.equal(again.body.code, 'BG_ERR_PRODUCER_KEY_NOT_FOUND');
    });

    it('remembers a valid key per connection only while it stays valid, and never for another key', async () => {
      const first = (await gw.api('POST', '/api/producer-keys', { name: 'one' })).body;
      const second = (await gw.api('POST', '/api/producer-keys', { name: 'two' })).body;
      const connection = {};
      assert.equal(await gw.notify.producerKeyValid(first.key, connection), true);
      assert.equal(await gw.notify.producerKeyValid(first.key, connection), true);
      // Another key on the same connection is checked on its own: a wrong one (same length, one character off) fails.
      const forged = first.key.slice(0, -1) + (first.key.endsWith('A') ? 'B' : 'A');
      assert.equal(await gw.notify.producerKeyValid(forged, connection), false);
      assert.equal(await gw.notify.producerKeyValid(second.key, connection), true);
      // Revoked: refused on the connection that used it, at once.
      assert.equal((await gw.api('DELETE', `/api/producer-keys/${first.id}`)).status, 204);
      assert.equal(await gw.notify.producerKeyValid(first.key, connection), false);
      assert.equal(await gw.notify.producerKeyValid(second.key, connection), true);
      assert.equal((await gw.api('DELETE', `/api/producer-keys/${second.id}`)).status, 204);
      assert.equal(await gw.notify.producerKeyValid(second.key, connection), false);
    });
  });
}

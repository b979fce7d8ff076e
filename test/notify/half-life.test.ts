// notify.half_life_days changed between two starts, through the real gateway on both stores: the counts the API shows
// (variant stats, a user's export) are what they were just before the restart, and decay at the new rate from then on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManualClock } from '../../src/clock.ts';
import { testBackends } from '../helpers/backends.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freshSchema } from '../helpers/postgres.ts';
import { startReceiver } from '../helpers/receiver.ts';

const DAY = 86_400_000;
type Counts = { shown: number; clicked: number };

/** Each variant's counts, then the user's engagement, as the API shows them. */
async function shownCounts(gw: TestGateway): Promise<Counts[]> {
  const variants = await gw.api('GET', '/api/notify/types/promo_alert/variants');
  assert.equal(variants.status, 200, JSON.stringify(variants.body));
  const exported = await gw.api('GET', '/api/users/u-0/export');
  assert.equal(exported.status, 200, JSON.stringify(exported.body));
  return [...variants.body.data, ...exported.body.engagement].map((c: Counts) => ({ shown: c.shown, clicked: c.clicked }));
}

function assertClose(actual: Counts[], expected: Counts[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (const [i, e] of expected.entries()) {
    for (const key of ['shown', 'clicked'] as const) {
      assert.ok(Math.abs(actual[i][key] - e[key]) <= 1e-9 * Math.max(1, e[key]), `${what}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
    }
  }
}

for (const backend of await testBackends()) {
  describe(`notify.half_life_days changed between two starts (${backend.name})`, { skip: backend.skip }, () => {
    it('shows the same counts right after the change, decayed at the new rate from then on', async () => {
      const schema = backend.url === undefined ? null : await freshSchema(backend.url);
      const env = {
        BOTGATE_NOTIFY__TICK_SECONDS: '3600',
        ...(schema ? { BOTGATE_DATABASE_URL: backend.url!, BOTGATE_DATABASE_SCHEMA: schema.schema } : { BOTGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'botgate-test-')) }),
      };
      const clock = createManualClock(Date.UTC(2026, 2, 2, 12));
      const rx = await startReceiver();
      let gw = await startTestGateway({ ...env, BOTGATE_NOTIFY__HALF_LIFE_DAYS: '1' }, { clock });
      try {
        const endpoint = await gw.api('POST', '/api/endpoints', { name: 'notify-rx', url: rx.url });
        const type = await gw.api('PUT', '/api/notify/types/promo_alert', {
          critical: true, endpoint_id: endpoint.body.id, templates: [{ id: 'a', text: 'Text A' }, { id: 'b', text: 'Text B' }],
        });
        assert.equal(type.status, 200, JSON.stringify(type.body));
        for (let day = 0; day < 3; day++) {
          const decided = await gw.notify.engine.decide(Array.from({ length: 4 }, (_, i) => ({ userId: `u-${i}`, eventType: 'promo_alert', params: { day } })));
          assert.ok(decided.every((d) => d.decision === 'notify'));
          await gw.notify.engine.recordClick(decided[0].notificationId!);
          clock.advance(DAY);
        }
        const before = await shownCounts(gw);
        assert.ok(before.every((c) => c.shown > 0) && before.length === 3, JSON.stringify(before));
        await gw.close();

        // The same database started again with a week's half-life, at the same moment.
        gw = await startTestGateway({ ...env, BOTGATE_NOTIFY__HALF_LIFE_DAYS: '7' }, { clock });
        assertClose(await shownCounts(gw), before, 'right after the restart');
        assert.equal((await gw.api('GET', '/api/notify/types/promo_alert/variants')).body.half_life_days, 7);
        clock.advance(7 * DAY);
        const halved = before.map((c) => ({ shown: c.shown / 2, clicked: c.clicked / 2 }));
        assertClose(await shownCounts(gw), halved, 'one new half-life later');
        // A send now adds one to the user's and the type's counts on the new scale.
        const [sent] = await gw.notify.engine.decide([{ userId: 'u-0', eventType: 'promo_alert', params: { day: 10 } }]);
        const after = await shownCounts(gw);
        assert.ok(Math.abs(after[2].shown - (halved[2].shown + 1)) <= 1e-9, JSON.stringify(after));
        const variant = sent.variant === 'a' ? 0 : 1;
        assert.ok(Math.abs(after[variant].shown - (halved[variant].shown + 1)) <= 1e-9, JSON.stringify(after));
      } finally {
        await gw.close();
        await rx.close();
        await schema?.drop();
      }
    });
  });
}

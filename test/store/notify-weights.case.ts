// The notify store's weights, asked of every backend through notify.case.ts: clicks counted once and the weights'
// rebases (to a new shift, to another half-life).
import { it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { decayed, scaleFor } from '../../src/notify/engagement.ts';
import { rescaled, scaleDistance, WEIGHT_EPOCH } from '../../src/store/notify-records.ts';
import type { Store } from '../../src/store/store.ts';
import { DAY, notification, onShift, pair, sent, T0, type NotifyCases } from './notify-fixtures.ts';

export function notifyWeightCases(ctx: NotifyCases): void {
  let store: Store;
  beforeEach(() => {
    store = ctx.store();
  });
  const { commit, variants, load } = ctx;

  it('records a click once and adds its weight to engagement and to the pooled and variant type stats', async () => {
    const withVariant = sent({ eventType: 'promo', variant: 'A' });
    const noVariant = sent({ eventType: 'alert', variant: null });
    const pending = notification();
    await commit({
      notifications: [withVariant, noVariant, pending],
      engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 1, clickedW: 0 }, { userId: 'usr_1', eventType: 'alert', shownW: 1, clickedW: 0 }],
      typeStats: [
        { eventType: 'promo', variant: '', shownW: 2, clickedW: 0 }, { eventType: 'promo', variant: 'A', shownW: 1, clickedW: 0 },
        { eventType: 'promo', variant: 'B', shownW: 1, clickedW: 0 }, { eventType: 'alert', variant: '', shownW: 1, clickedW: 0 },
      ],
    });
    assert.equal(await store.notify.click(withVariant.id, T0 + 50, () => 0.5), 'recorded');
    assert.equal(await store.notify.click(withVariant.id, T0 + 60, () => 0.5), 'duplicate');
    assert.equal(await store.notify.click('ntf_missing', T0 + 60, () => 0.5), 'not_found');
    assert.equal(await store.notify.click(pending.id, T0 + 60, () => 0.5), 'not_found', 'a notification not sent cannot be clicked');
    assert.deepEqual(await store.notify.notification(withVariant.id), { ...withVariant, clickedAt: T0 + 50, updatedAt: T0 + 50 });
    assert.deepEqual(await variants('promo'), new Map([
      ['', { shownW: 2, clickedW: 0.5 }], ['A', { shownW: 1, clickedW: 0.5 }], ['B', { shownW: 1, clickedW: 0 }],
    ]));
    assert.equal(await store.notify.click(noVariant.id, T0 + 70, () => 0.25), 'recorded');
    assert.deepEqual(await variants('alert'), new Map([['', { shownW: 1, clickedW: 0.25 }]]), 'the pooled row counts a click once');
    const state = await load();
    assert.deepEqual(state.engagement.get(pair('usr_1', 'promo')), { shownW: 1, clickedW: 0.5 });
    assert.deepEqual(state.engagement.get(pair('usr_1', 'alert')), { shownW: 1, clickedW: 0.25 });
    assert.equal((await store.notify.notification(pending.id))?.clickedAt, null);
  });

  it('rebases the weights: all of them × 2^−(to − from) with the shift, once; an older shift\'s weights are added on the new one', async () => {
    const n = sent({ variant: 'A' });
    await commit({
      newUsers: [{ id: 'usr_1', tz: null }],
      notifications: [n],
      engagement: [
        { userId: 'usr_1', eventType: 'promo', shownW: 3 * 2 ** 700, clickedW: 2 ** 700 },
        // A weight that overflowed before weights had a shift (its count is lost), and one too small to count.
        { userId: 'usr_2', eventType: 'promo', shownW: Infinity, clickedW: 2 ** -500 },
      ],
      typeStats: [{ eventType: 'promo', variant: '', shownW: 2 ** 1000, clickedW: 2 ** 900 }, { eventType: 'promo', variant: 'A', shownW: 1.5, clickedW: 0 }],
    });
    assert.deepEqual(await store.notify.rebase(onShift(0), onShift(600), T0), onShift(600));
    assert.deepEqual(await store.notify.rebase(onShift(0), onShift(650), T0), onShift(600), 'another process rebased first: nothing moves');
    const state = await load({ userIds: ['usr_1', 'usr_2'], types: ['promo'] });
    assert.equal(state.shift, 600);
    assert.deepEqual(state.engagement, new Map([[pair('usr_1', 'promo'), { shownW: 3 * 2 ** 100, clickedW: 2 ** 100 }], [pair('usr_2', 'promo'), { shownW: 0, clickedW: 0 }]]));
    assert.deepEqual(await store.notify.typeStats('promo'), { ...onShift(600), variants: new Map([['', { shownW: 2 ** 400, clickedW: 2 ** 300 }], ['A', { shownW: 1.5 * 2 ** -600, clickedW: 0 }]]) });

    // A batch that read before the rebase commits on shift 0; a click's weight is asked for on the store's shift.
    await commit({ shift: 0, engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 2 ** 650, clickedW: 0 }] });
    assert.equal(await store.notify.click(n.id, T0 + 1, ({ shift }) => 2 ** (700 - shift)), 'recorded');
    const exported = (await store.notify.exportUser('usr_1'))!;
    assert.equal(exported.shift, 600);
    assert.deepEqual(exported.engagement, [{ eventType: 'promo', shownW: 3 * 2 ** 100 + 2 ** 50, clickedW: 2 ** 101 }]);
    assert.deepEqual((await variants('promo')).get('A'), { shownW: 1.5 * 2 ** -600, clickedW: 2 ** 100 });

    // Past 1,000 at once, in steps (PostgreSQL refuses a product that underflows: those are 0).
    await commit({ shift: 600, typeStats: [{ eventType: 'promo', variant: 'B', shownW: 2 ** 1000, clickedW: 2 ** 999 }] });
    assert.deepEqual(await store.notify.rebase(onShift(600), onShift(2100), T0), onShift(2100));
    const after = await load({ userIds: ['usr_1'], types: ['promo'] });
    assert.equal(after.shift, 2100);
    assert.deepEqual(after.engagement.get(pair('usr_1', 'promo')), { shownW: 0, clickedW: 0 });
    assert.deepEqual(after.typeStats, new Map([[pair('promo', ''), { shownW: 0, clickedW: 0 }], [pair('promo', 'A'), { shownW: 0, clickedW: 0 }], [pair('promo', 'B'), { shownW: 2 ** -500, clickedW: 2 ** -501 }]]));
  });

  it('rebases the weights to another half-life: every count decayed to then keeps its value, once; an older scale\'s weights are added on the new one', async () => {
    const at = Date.UTC(2026, 5, 1);
    const daily = { shift: 0, halfLifeMs: DAY };
    assert.deepEqual(await store.notify.rebase(onShift(0), daily, at), daily, 'the half-life recorded: nothing moves');
    const n = sent({ variant: 'A', sentAt: at - DAY });
    // A send a day ago, and three sends a week ago of which one was clicked (weights 2^((t − epoch)/half-life)).
    const w = (t: number) => 2 ** ((t - WEIGHT_EPOCH) / DAY);
    await commit({
      newUsers: [{ id: 'usr_1', tz: null }],
      notifications: [n],
      engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: w(at - DAY) + 3 * w(at - 7 * DAY), clickedW: w(at - 7 * DAY) }],
      typeStats: [{ eventType: 'promo', variant: '', shownW: w(at - DAY), clickedW: 0 }, { eventType: 'promo', variant: 'A', shownW: 3 * w(at - 7 * DAY), clickedW: w(at - 7 * DAY) }],
      halfLifeMs: DAY,
    }, at);
    const weekly = scaleFor(at, 7 * DAY, daily);
    const d = scaleDistance(daily, weekly, at);
    assert.ok(d >= 0 && d < 1, `moved down by 2^−${d}`);
    assert.deepEqual(await store.notify.rebase(daily, weekly, at), weekly);
    assert.deepEqual(await store.notify.rebase(daily, { ...weekly, shift: weekly.shift + 1 }, at), weekly, 'another process rebased first: nothing moves');

    const state = await load({ types: ['promo'], now: at });
    assert.deepEqual({ shift: state.shift, halfLifeMs: state.halfLifeMs }, weekly);
    const stored = state.engagement.get(pair('usr_1', 'promo'))!;
    assert.deepEqual(stored, { shownW: rescaled(w(at - DAY) + 3 * w(at - 7 * DAY), d), clickedW: rescaled(w(at - 7 * DAY), d) });
    // Read under the new half-life at `at`: the counts they were (1/2 + 3/2^7, 1/2^7).
    const counts = decayed(stored, at, 7 * DAY, weekly.shift);
    assert.ok(Math.abs(counts.shown - (0.5 + 3 / 128)) < 1e-12 && Math.abs(counts.clicked - 1 / 128) < 1e-12, JSON.stringify(counts));
    const stats = await store.notify.typeStats('promo');
    assert.deepEqual({ shift: stats.shift, halfLifeMs: stats.halfLifeMs }, weekly);
    assert.deepEqual(stats.variants.get('A'), { shownW: rescaled(3 * w(at - 7 * DAY), d), clickedW: rescaled(w(at - 7 * DAY), d) });

    // A batch that read before the rebase commits on the daily scale; a click's weight is asked for on the weekly one.
    await commit({ shift: 0, halfLifeMs: DAY, engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: w(at), clickedW: 0 }] }, at);
    const asked: unknown[] = [];
    assert.equal(await store.notify.click(n.id, at, (scale) => (asked.push(scale), 2 ** ((at - DAY - WEIGHT_EPOCH) / (7 * DAY) - weekly.shift))), 'recorded');
    assert.deepEqual(asked, [weekly]);
    const exported = (await store.notify.exportUser('usr_1'))!;
    assert.deepEqual({ shift: exported.shift, halfLifeMs: exported.halfLifeMs }, weekly);
    const now = decayed(exported.engagement[0], at, 7 * DAY, weekly.shift);
    assert.ok(Math.abs(now.shown - (1.5 + 3 / 128)) < 1e-12 && Math.abs(now.clicked - (2 ** (-1 / 7) + 1 / 128)) < 1e-12, JSON.stringify(now));
  });

  it('counts concurrent clicks of one notification once', async () => {
    const n = sent({ variant: 'A' });
    await commit({
      notifications: [n],
      engagement: [{ userId: 'usr_1', eventType: 'promo', shownW: 1, clickedW: 0 }],
      typeStats: [{ eventType: 'promo', variant: '', shownW: 1, clickedW: 0 }, { eventType: 'promo', variant: 'A', shownW: 1, clickedW: 0 }],
    });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => store.notify.click(n.id, T0 + i, () => 1)));
    assert.deepEqual(results.sort(), ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'recorded']);
    assert.deepEqual(await variants('promo'), new Map([['', { shownW: 1, clickedW: 1 }], ['A', { shownW: 1, clickedW: 1 }]]));
    assert.deepEqual((await load()).engagement.get(pair('usr_1', 'promo')), { shownW: 1, clickedW: 1 });
  });
}

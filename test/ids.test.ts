// Ids: prefixed, ULID-shaped, strictly increasing within a process, distinct across generators.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../src/clock.ts';
import { createIdGenerator } from '../src/ids.ts';

describe('ids', () => {
  it('are ULID-shaped and sort in creation order, even when the clock stands still or steps back', () => {
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    const next = createIdGenerator(clock);
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      if (i === 500) clock.advance(-10_000);
      if (i === 700) clock.advance(60_000);
      ids.push(next('msg'));
    }
    for (const id of ids) assert.match(id, /^msg_[0-9a-hjkmnp-tv-z]{26}$/);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids[0].slice(4, 14), '01kdvdna00', 'the first 10 characters encode the time, as ULID does');
  });

  it('differ between generators started at the same instant', () => {
    const clock = createManualClock();
    const a = createIdGenerator(clock);
    const b = createIdGenerator(clock);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      seen.add(a('dlv'));
      seen.add(b('dlv'));
    }
    assert.equal(seen.size, 2000);
  });
});

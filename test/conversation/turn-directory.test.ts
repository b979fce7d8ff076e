// The turn directory's caches are brief: a channel changed or deleted by another process sharing the database
// is seen within seconds (this process's own changes are forgotten at once by forgetChannel).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/clock.ts';
import { createTurnDirectory } from '../../src/conversation/turn-directory.ts';

describe('turn directory', () => {
  it('reads a channel again after a few seconds: another process\'s change or deletion is seen', async () => {
    const clock = createManualClock();
    let stored: { id: string; name: string } | null = { id: 'ch_1', name: 'before' };
    const store = { channels: { get: async (id: string) => (stored && stored.id === id ? { ...stored } : null) } };
    const directory = createTurnDirectory({ store: store as never, clock, bots: {} as never, adapters: {} });
    assert.equal((await directory.channelOf('ch_1'))?.name, 'before');
    stored = { id: 'ch_1', name: 'after' }; // changed elsewhere
    assert.equal((await directory.channelOf('ch_1'))?.name, 'before', 'cached for a moment');
    clock.advance(5_001);
    assert.equal((await directory.channelOf('ch_1'))?.name, 'after');
    stored = null; // deleted elsewhere
    clock.advance(5_001);
    assert.equal(await directory.channelOf('ch_1'), null);
  });
});

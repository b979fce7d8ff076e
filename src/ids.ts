// Prefixed, time-sortable ids (ULID) for every stored row: `msg_01J…`, `ep_01J…`.
import { monotonicFactory } from 'ulid';
import type { Clock } from './clock.ts';

export type IdPrefix = 'msg' | 'ep' | 'dlv' | 'att' | 'job';

export function createIdGenerator(clock: Clock): (prefix: IdPrefix) => string {
  const next = monotonicFactory();
  return (prefix) => `${prefix}_${next(clock.now()).toLowerCase()}`;
}

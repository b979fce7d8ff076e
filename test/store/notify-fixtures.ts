// Records and helpers the notify store's conformance cases share (notify.case.ts and the case files it runs).
import type { DecisionRecord, FeedRecord, NotificationRecord, NotifyWrites } from '../../src/store/notify-records.ts';
import type { Store } from '../../src/store/store.ts';
import { newId } from '../helpers/fixtures.ts';

export const T0 = 1_700_000_000_000;
export const DAY = 24 * 3600 * 1000;
/** The worker id the leases are taken under. */
export const W = 'gw-1';
export const pair = (a: string, b: string) => `${a}\u0000${b}`;
/** A scale with no half-life recorded: only the shift moves. */
export const onShift = (shift: number) => ({ shift, halfLifeMs: null });

export function notification(over: Partial<NotificationRecord> = {}): NotificationRecord {
  return {
    id: newId('ntf'), userId: 'usr_1', eventType: 'promo', status: 'pending', reason: 'scheduled', critical: false, variant: null, text: 'Hello',
    params: { amount: 3, nested: { a: [1, 2] } }, eventKey: `key-${newId('ntf')}`, occurredAt: T0 - 1000, dueAt: T0, expiresAt: T0 + DAY,
    sentAt: null, clickedAt: null, destination: null, messageId: null, createdAt: T0 - 1000, updatedAt: T0 - 1000, ...over,
  };
}

export const sent = (over: Partial<NotificationRecord> = {}) =>
  notification({ status: 'sent', reason: null, dueAt: null, sentAt: T0, destination: 'ch_1', messageId: newId('msg'), ...over });

export function decision(over: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: newId('dec'), userId: 'usr_1', eventType: 'promo', decision: 'notify', reason: 'sent', score: 0.75, variant: 'A', notificationId: null,
    eventKey: `key-${newId('dec')}`, params: { x: 1 }, occurredAt: T0 - 10, decidedAt: T0, duplicateOf: null, ...over,
  };
}

export function feed(over: Partial<FeedRecord> = {}): FeedRecord {
  return {
    id: newId('feed'), name: `feed-${newId('feed')}`, cron: '0 9 * * *', tz: 'Europe/Paris', eventType: 'digest.daily', userIds: null,
    params: { section: 'news' }, isActive: true, nextRunAt: T0, lastRunAt: null, createdAt: T0 - DAY, updatedAt: T0 - DAY, ...over,
  };
}

/** What a case file gets from notify.case.ts's describe: the store of the running test and the writing helpers. */
export interface NotifyCases {
  store: () => Store;
  commit: (w: Partial<NotifyWrites>, now?: number) => Promise<unknown>;
  variants: (type: string) => Promise<Map<string, { shownW: number; clickedW: number }>>;
  load: (over?: { userIds?: string[]; keys?: string[]; types?: string[]; now?: number; sendsSince?: number }) => ReturnType<Store['notify']['loadState']>;
  settle: (store: Store) => Promise<void>;
}

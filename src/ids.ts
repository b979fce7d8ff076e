// Prefixed, time-sortable ids for every stored row: `msg_01j…`, `ep_01j…`. ULID layout (48-bit milliseconds +
// 80 bits, Crockford base32, here lower-case): the 80 bits start at a random value per process and count up,
// so ids are unique across processes and strictly increasing within one, at a fraction of a random draw each.
import { randomBytes } from 'node:crypto';
import type { Clock } from './clock.ts';

export type IdPrefix = 'msg' | 'ep' | 'dlv' | 'att' | 'job' | 'ch' | 'conv' | 'usr' | 'hof' | 'agt' | 'dec' | 'ntf' | 'feed' | 'pk';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const HALF = 2 ** 40;

/** Every pair of base-32 digits (0…1023), so a number is written two digits at a time. */
const PAIRS = Array.from({ length: 1024 }, (_, n) => ALPHABET[n >> 5] + ALPHABET[n & 31]);

/** Writes `value` as `count` pairs of digits, most significant first, into parts[at…]. */
function putPairs(parts: string[], at: number, value: number, count: number): void {
  for (let i = at + count - 1; i >= at; i--) {
    parts[i] = PAIRS[value % 1024];
    value = Math.floor(value / 1024);
  }
}

/** `value` in `count` pairs of digits, as one string. */
function encode(value: number, count: number): string {
  const parts: string[] = [];
  putPairs(parts, 0, value, count);
  return parts.join('');
}

export function createIdGenerator(clock: Clock): (prefix: IdPrefix) => string {
  const seed = randomBytes(10);
  let hi = seed.readUIntBE(0, 5); // 40 bits each: exact in a double
  let lo = seed.readUIntBE(5, 5);
  let lastTime = 0;
  // prefix, '_', the time (48 bits in 10 digits), the high 40 bits (8 digits), then the low 40 bits as 4 pairs. Joined,
  // not concatenated: one flat string (concatenation makes a rope, about 80 bytes more for every id held, as those of
  // the deliveries waiting in the hand-off queue are).
  const parts = ['', '_', '', encode(hi, 4), '', '', '', ''];
  return (prefix) => {
    const now = Math.max(clock.now(), lastTime);
    if (now !== lastTime) {
      lastTime = now;
      parts[2] = encode(now, 5);
    }
    if (++lo >= HALF) {
      lo = 0;
      hi = (hi + 1) % HALF;
      parts[3] = encode(hi, 4);
    }
    putPairs(parts, 4, lo, 4);
    parts[0] = prefix;
    return parts.join('');
  };
}

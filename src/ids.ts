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

/** `value` in `length` (even) base-32 digits, most significant first. */
function encode(value: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 2) {
    out = PAIRS[value % 1024] + out;
    value = Math.floor(value / 1024);
  }
  return out;
}

export function createIdGenerator(clock: Clock): (prefix: IdPrefix) => string {
  const seed = randomBytes(10);
  let hi = seed.readUIntBE(0, 5); // 40 bits each: exact in a double
  let lo = seed.readUIntBE(5, 5);
  let lastTime = 0;
  let timePart = '';
  let hiPart = encode(hi, 8);
  const parts = ['', '_', '', '', '', '', '', ''];
  return (prefix) => {
    const now = Math.max(clock.now(), lastTime);
    if (now !== lastTime) {
      lastTime = now;
      timePart = encode(now, 10);
    }
    if (++lo >= HALF) {
      lo = 0;
      hi = (hi + 1) % HALF;
      hiPart = encode(hi, 8);
    }
    // Joined, not concatenated: one flat string (concatenation makes a rope, about 80 bytes more for every id held, as
    // those of the deliveries waiting in the hand-off queue are).
    parts[0] = prefix;
    parts[2] = timePart;
    parts[3] = hiPart;
    let value = lo; // its 8 digits as 4 pairs, put straight into the parts (no string made to hold them first)
    for (let i = 7; i >= 4; i--) {
      parts[i] = PAIRS[value % 1024];
      value = Math.floor(value / 1024);
    }
    return parts.join('');
  };
}

// Engagement arithmetic: decayed counts, the Beta posterior with a pooled prior, Thompson sampling. Pure
// functions of their inputs and an injected random source.
import type { Random } from '../clock.ts';
import { WEIGHT_EPOCH, type WeightedCounts, type WeightScale } from '../store/notify-records.ts';

/**
 * Counts are stored as sums of 2^((t − WEIGHT_EPOCH)/half-life − shift): adding one is `+=`, decaying is one
 * multiplication. The store keeps the shift and the half-life (store/notify-records.ts): without the shift the weights
 * pass 2^1024 (Infinity) 1,024 half-lives after WEIGHT_EPOCH, weeks with a half-life of hours; without the half-life a
 * new notify.half_life_days would read weights written under the old one.
 */

/** Weights at now may reach 2^REBASE_AT before the store rebases them: far enough below 2^1024 for any sum of them. */
export const REBASE_AT = 500;

export function weightAt(t: number, halfLifeMs: number, shift = 0): number {
  return 2 ** ((t - WEIGHT_EPOCH) / halfLifeMs - shift);
}

/** The shift weights should be on at `now`: the current one, or (once weights at now pass 2^REBASE_AT) a new one that brings them near 1. */
export function shiftFor(now: number, halfLifeMs: number, shift: number): number {
  const exponent = (now - WEIGHT_EPOCH) / halfLifeMs;
  return exponent - shift > REBASE_AT ? Math.floor(exponent) : shift;
}

/**
 * The scale stored weights should be on at `now` under `halfLifeMs`. From another half-life, the counts decayed to now
 * are kept (scaleDistance) on the least shift that moves weights down, by less than one power of two: weights at now
 * stay about as large as they were, far from both underflow and 2^REBASE_AT.
 */
export function scaleFor(now: number, halfLifeMs: number, scale: WeightScale): WeightScale {
  if (scale.halfLifeMs === null || scale.halfLifeMs === halfLifeMs) return { shift: shiftFor(now, halfLifeMs, scale.shift), halfLifeMs };
  const shift = Math.ceil(scale.shift + (now - WEIGHT_EPOCH) * (1 / halfLifeMs - 1 / scale.halfLifeMs));
  return { shift: shiftFor(now, halfLifeMs, shift), halfLifeMs };
}

/** Counts decayed to time t, from weights on the given shift. */
export function decayed(counts: WeightedCounts | undefined, t: number, halfLifeMs: number, shift = 0): { shown: number; clicked: number } {
  if (!counts) return { shown: 0, clicked: 0 };
  const factor = 1 / weightAt(t, halfLifeMs, shift);
  return { shown: counts.shownW * factor, clicked: Math.min(counts.clickedW, counts.shownW) * factor };
}

/**
 * The user's Beta posterior for a type: a prior centred on the type's pooled click rate (itself shrunk towards the
 * type's configured prior mean while data is thin), worth `strength` observations, plus the user's own counts.
 * A new user starts at the type's average; one ignored message lowers the mean but never zeroes it.
 */
export function posterior(user: { shown: number; clicked: number }, pooled: { shown: number; clicked: number }, priorMean: number, strength: number): { alpha: number; beta: number; mean: number } {
  const m = (pooled.clicked + strength * priorMean) / (pooled.shown + strength);
  const alpha = strength * m + user.clicked;
  const beta = strength * (1 - m) + Math.max(0, user.shown - user.clicked);
  return { alpha, beta, mean: alpha / (alpha + beta) };
}

function normal(random: Random): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Marsaglia–Tsang gamma sampler (shape k > 0, scale 1). */
export function sampleGamma(k: number, random: Random): number {
  if (k < 1) return sampleGamma(k + 1, random) * random() ** (1 / k);
  const d = k - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(alpha: number, beta: number, random: Random): number {
  const x = sampleGamma(alpha, random);
  return x / (x + sampleGamma(beta, random));
}

/** Thompson sampling over variants: each variant's Beta(1 + clicks, 1 + misses) sampled once, the highest wins. */
export function pickVariant(variants: string[], stats: (variant: string) => { shown: number; clicked: number }, random: Random): string {
  let best = variants[0];
  let bestDraw = -1;
  for (const variant of variants) {
    const s = stats(variant);
    const draw = sampleBeta(1 + s.clicked, 1 + Math.max(0, s.shown - s.clicked), random);
    if (draw > bestDraw) (best = variant), (bestDraw = draw);
  }
  return best;
}

/** Each variant's probability of being the best, estimated from `draws` joint samples of the posteriors. */
export function probabilityBest(variants: string[], stats: (variant: string) => { shown: number; clicked: number }, random: Random, draws = 4000): Map<string, number> {
  const wins = new Map(variants.map((v) => [v, 0]));
  const params = variants.map((v) => {
    const s = stats(v);
    return [1 + s.clicked, 1 + Math.max(0, s.shown - s.clicked)] as const;
  });
  for (let i = 0; i < draws; i++) {
    let best = 0;
    let bestDraw = -1;
    for (let j = 0; j < variants.length; j++) {
      const draw = sampleBeta(params[j][0], params[j][1], random);
      if (draw > bestDraw) (best = j), (bestDraw = draw);
    }
    wins.set(variants[best], wins.get(variants[best])! + 1);
  }
  return new Map([...wins].map(([v, n]) => [v, n / draws]));
}

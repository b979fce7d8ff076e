// Samples a process from /proc: resident memory every ~100 ms (peak, and the kernel's own VmHWM) and CPU time.
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

function readStatus(pid: number): { rssKb: number; hwmKb: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? 0), hwmKb: Number(/VmHWM:\s+(\d+)/.exec(text)?.[1] ?? 0) };
  } catch {
    return null; // exited
  }
}

/** User + system CPU seconds the process has used so far (NaN once it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from #3 (state) on
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime (#14) + stime (#15)
  } catch {
    return NaN;
  }
}

/** CPU seconds so far per thread name (MainThread, V8Worker: GC and JIT helpers, WorkerThread, libuv-worker …). */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName; // exited
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
    } catch {
      // the thread ended
    }
  }
  return byName;
}

/** Per thread name, % of one core used between two threadCpuSeconds readings `ms` apart, largest first. */
export function threadCpuLine(before: Map<string, number>, after: Map<string, number>, ms: number): string {
  return [...after]
    .map(([name, s]) => [name, (100 * (s - (before.get(name) ?? 0)) * 1000) / ms] as const)
    .filter(([, pct]) => pct >= 1)
    .sort((a, b) => b[1] - a[1])
    .map(([name, pct]) => `${name} ${pct.toFixed(0)}%`)
    .join(', ');
}

export interface Sampler {
  /** Peak RSS in MB: the larger of the sampled maximum and VmHWM. */
  peakMb(): number;
  stop(): void;
}

export function sampleRss(pid: number, everyMs = 100): Sampler {
  let peakKb = 0;
  const read = () => {
    const s = readStatus(pid);
    if (s) peakKb = Math.max(peakKb, s.rssKb, s.hwmKb);
  };
  read();
  const timer = setInterval(read, everyMs);
  return {
    peakMb() {
      read();
      return peakKb / 1024;
    },
    stop() {
      read();
      clearInterval(timer);
    },
  };
}

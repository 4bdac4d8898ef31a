/**
 * CPU time and memory of another process, read from /proc as the OS accounts them, so what the
 * process does to measure itself (or fails to count: GC threads, libuv's pool) stays out of it.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

const TICKS_PER_SECOND = clockTicksPerSecond();

/** User plus system CPU time of every thread of `pid`, in milliseconds (resolution 1 tick, 10 ms). */
export function cpuTimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // The command name (field 2) may hold spaces or parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime) are 12 and 13 after the command name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time all processes spent in user and kernel mode, summed over CPUs, in milliseconds.
 * Interrupt time is left out: loopback traffic's softirq work is the bench's own but is
 * charged to no process.
 */
export function machineCpuTimeMs(): number {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
  const [user, nice, system] = line.trim().split(/\s+/).slice(1, 4).map(Number);
  return (((user ?? 0) + (nice ?? 0) + (system ?? 0)) * 1000) / TICKS_PER_SECOND;
}

/** Resident set size of `pid` now, in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * Samples VmRSS every `intervalMs` and keeps the peak. VmHWM would be exact but only ever grows
 * over the process's life, so it cannot isolate one segment of a long run.
 */
export class RssSampler {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  readonly startBytes: number;
  #peakBytes: number;

  constructor(pid: number, intervalMs = 50) {
    this.#pid = pid;
    this.startBytes = rssBytes(pid);
    this.#peakBytes = this.startBytes;
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    try {
      this.#peakBytes = Math.max(this.#peakBytes, rssBytes(this.#pid));
    } catch {
      // The process is gone; the segment reports it as errors.
    }
  }

  /** Stops sampling and returns the peak seen, the final sample included. */
  stop(): number {
    clearInterval(this.#timer);
    this.#sample();
    return this.#peakBytes;
  }
}

export function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'latin1'));
    return match?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The pid of a process whose command line contains `text` (redis-server retitles itself "redis-server HOST:PORT"). */
export function findPid(text: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ').includes(text)) return Number(entry);
    } catch {
      // Exited while we looked.
    }
  }
  return undefined;
}

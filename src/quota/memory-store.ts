/**
 * Counters in this process: the store when no Redis is configured (one instance only), and
 * the local fallback while Redis is unreachable (contract §11). Same semantics as admit.lua,
 * decision for decision: both run under one contract suite (test/quota/quota-store.contract.ts).
 * Every method body is synchronous, so each operation is atomic in the event loop.
 */
import type {
  AdmitCommand,
  AdmitOutcome,
  BudgetCounterState,
  BudgetPeriod,
  BudgetPeriodRef,
  BudgetReadCommand,
  BudgetReserveCommand,
  BudgetReserveOutcome,
  BudgetSeedCommand,
  BudgetSettleCommand,
  CorrectCommand,
  PinSignaturesCommand,
  PoolAdmitCommand,
  PoolAdmitOutcome,
  QuotaDimension,
  QuotaScope,
  QuotaStore,
  SignaturePinsQuery,
  WindowUsage,
} from './store.js';
import type { Limits } from './limits.js';
import { WINDOW_MS } from './windows.js';

/** Calendar counters outlive their period a little, as their Redis keys do (TTL slack). */
const EXPIRY_SLACK_MS = 3_600_000;

type WindowDimension = 'rpm' | 'tpm' | 'ipm';

interface LogEntry {
  atMs: number;
  entryId: string;
  tokens: number;
  images: number;
}

function costOf(e: Pick<LogEntry, 'tokens' | 'images'>, dim: WindowDimension): number {
  return dim === 'rpm' ? 1 : dim === 'tpm' ? e.tokens : e.images;
}

/**
 * A sliding log of admissions: exact over any 60 s span, sums kept beside it. Entries are in
 * time order; aged-out ones are dropped by moving `#head` (compacted now and then), never by
 * shifting the array, and a correction finds its entry by binary search on its time: each
 * operation stays cheap however high a limit lets the log grow (a limit of 10^8 rpm at 9,000
 * admissions a second holds half a million entries).
 */
class SlidingLog {
  #entries: LogEntry[] = [];
  /** Index of the oldest live entry; those before it have aged out. */
  #head = 0;
  readonly sums: Record<WindowDimension, number> = { rpm: 0, tpm: 0, ipm: 0 };

  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** Drops entries that have aged out: an entry counts while nowMs < atMs + WINDOW_MS. */
  trim(nowMs: number): void {
    const cutoff = nowMs - WINDOW_MS;
    const entries = this.#entries;
    let k = this.#head;
    while (k < entries.length && entries[k]!.atMs <= cutoff) {
      const e = entries[k]!;
      this.sums.rpm -= 1;
      this.sums.tpm -= e.tokens;
      this.sums.ipm -= e.images;
      k++;
    }
    this.#head = k;
    // Compact once the dead prefix is most of the array: amortised O(1) per entry.
    if (k === entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (k > 1024 && k * 2 > entries.length) {
      this.#entries = entries.slice(k);
      this.#head = 0;
    }
  }

  add(e: LogEntry): void {
    // Instances' clocks may disagree slightly: keep the log ordered by time, not arrival.
    const entries = this.#entries;
    // Appending is the common case: check the end before searching.
    if (entries.length === this.#head || entries[entries.length - 1]!.atMs <= e.atMs) entries.push(e);
    else entries.splice(this.#search(e.atMs, false), 0, e);
    this.sums.rpm += 1;
    this.sums.tpm += e.tokens;
    this.sums.ipm += e.images;
  }

  /** The live entry admitted at `atMs` with this id. */
  find(entryId: string, atMs: number): LogEntry | undefined {
    const entries = this.#entries;
    for (let i = this.#search(atMs, true); i < entries.length && entries[i]!.atMs === atMs; i++) {
      if (entries[i]!.entryId === entryId) return entries[i];
    }
    return undefined;
  }

  /** When the oldest entries holding `needed` units of `dim` have all aged out. */
  retryAfterMs(dim: WindowDimension, needed: number, nowMs: number): number {
    let freed = 0;
    const entries = this.#entries;
    for (let i = this.#head; i < entries.length; i++) {
      const e = entries[i]!;
      freed += costOf(e, dim);
      if (freed >= needed) return e.atMs + WINDOW_MS - nowMs;
    }
    // The request is larger than the limit itself: no amount of waiting admits it.
    return WINDOW_MS;
  }

  newestAtMs(): number | undefined {
    return this.size > 0 ? this.#entries[this.#entries.length - 1]!.atMs : undefined;
  }

  /** Index of the first live entry later than t, or at t too with `atToo` (entries.length when none). */
  #search(t: number, atToo: boolean): number {
    const entries = this.#entries;
    let lo = this.#head;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = entries[mid]!.atMs;
      if (at < t || (at === t && !atToo)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

interface DayCounter {
  count: number;
  expiresAtMs: number;
}

interface BudgetCounter {
  spent: bigint;
  reserved: bigint;
  holds: Map<string, { amount: bigint; untilMs: number }>;
  expiresAtMs: number;
}

const QUOTA_DIMENSIONS: readonly QuotaDimension[] = ['rpm', 'tpm', 'rpd', 'ipm'];

export class MemoryQuotaStore implements QuotaStore {
  readonly #logs = new Map<string, SlidingLog>();
  readonly #days = new Map<string, DayCounter>();
  readonly #cooldowns = new Map<string, number>();
  readonly #budgets = new Map<string, BudgetCounter>();
  /** Thought signature pins (#17.5) by pool and digest, in the order they were made: the oldest lapse first. */
  readonly #signatures = new Map<string, { projectId: string; untilMs: number }>();
  #nextSweepAtMs = -Infinity;

  async admit(cmd: AdmitCommand): Promise<AdmitOutcome> {
    return this.#admit(cmd);
  }

  #admit(cmd: AdmitCommand): AdmitOutcome {
    const nowMs = cmd.nowMs;
    this.#sweep(nowMs);
    const cooldownUntilMs = this.#cooldowns.get(cooldownKey(cmd.projectId, cmd.model));
    if (cooldownUntilMs !== undefined && cooldownUntilMs > nowMs) {
      return { admitted: false, scope: 'project', dimension: 'cooldown', limit: 0, used: 0, retryAfterMs: cooldownUntilMs - nowMs };
    }
    const scopes: Array<{ scope: QuotaScope; log: SlidingLog; dayKey: string; limits: Limits }> = [
      { scope: 'project', log: this.#log(projectLogKey(cmd)), dayKey: `${projectLogKey(cmd)}|${cmd.day}`, limits: cmd.projectLimits },
      { scope: 'tenant', log: this.#log(tenantLogKey(cmd)), dayKey: `${tenantLogKey(cmd)}|${cmd.day}`, limits: cmd.tenantLimits },
    ];
    if (cmd.keyId !== undefined && cmd.keyLimits) {
      const key = keyLogKey({ projectId: cmd.projectId, keyId: cmd.keyId });
      scopes.push({ scope: 'key', log: this.#log(key), dayKey: `${key}|${cmd.day}`, limits: cmd.keyLimits });
    }
    let refusal: Extract<AdmitOutcome, { admitted: false }> | undefined;
    const dayCounts: number[] = [];
    for (const s of scopes) {
      s.log.trim(nowMs);
      const dayCount = this.#days.get(s.dayKey)?.count ?? 0;
      dayCounts.push(dayCount);
      for (const dim of QUOTA_DIMENSIONS) {
        const limit = s.limits[dim];
        if (limit === undefined) continue;
        const used = dim === 'rpd' ? dayCount : s.log.sums[dim];
        const cost = dim === 'rpd' ? 1 : costOf(cmd, dim);
        if (used + cost <= limit) continue;
        const retryAfterMs = dim === 'rpd' ? cmd.dayEndsAtMs - nowMs : s.log.retryAfterMs(dim, used + cost - limit, nowMs);
        if (!refusal || retryAfterMs > refusal.retryAfterMs) {
          refusal = { admitted: false, scope: s.scope, dimension: dim, limit, used, retryAfterMs };
        }
      }
    }
    if (refusal) return refusal;
    for (const s of scopes) {
      s.log.add({ atMs: nowMs, entryId: cmd.entryId, tokens: cmd.tokens, images: cmd.images });
      const day = this.#days.get(s.dayKey);
      if (day) day.count += 1;
      else this.#days.set(s.dayKey, { count: 1, expiresAtMs: cmd.dayEndsAtMs + EXPIRY_SLACK_MS });
    }
    return {
      admitted: true,
      usedAfter: {
        project: { rpm: scopes[0]!.log.sums.rpm, rpd: dayCounts[0]! + 1 },
        tenant: { rpm: scopes[1]!.log.sums.rpm, rpd: dayCounts[1]! + 1 },
        ...(scopes[2] ? { key: { rpm: scopes[2].log.sums.rpm, rpd: dayCounts[2]! + 1 } } : {}),
      },
    };
  }

  /**
   * Decision for decision as pool_admit in redis-scripts.ts: each candidate in order gets the
   * refusal single admission would give it (the cool-down, else its latest-freeing dimension),
   * the shared tenant/key refusal counting too when it frees later; the first without one is
   * counted; else the refusal that frees first (the first such candidate on a tie).
   */
  async admitPool(cmd: PoolAdmitCommand): Promise<PoolAdmitOutcome> {
    const nowMs = cmd.nowMs;
    this.#sweep(nowMs);
    type Scope = { scope: QuotaScope; log: SlidingLog; dayKey: string; limits: Limits };
    const shared: Scope[] = [{ scope: 'tenant', log: this.#log(`pt|${cmd.poolId}|${cmd.tenantId}`), dayKey: `pt|${cmd.poolId}|${cmd.tenantId}|${cmd.day}`, limits: cmd.tenantLimits }];
    if (cmd.keyId !== undefined && cmd.keyLimits) {
      shared.push({ scope: 'key', log: this.#log(`pk|${cmd.poolId}|${cmd.keyId}`), dayKey: `pk|${cmd.poolId}|${cmd.keyId}|${cmd.day}`, limits: cmd.keyLimits });
    }
    let sharedRefusal: Refusal | undefined;
    for (const s of shared) sharedRefusal = later(sharedRefusal, this.#check(s, cmd, nowMs));
    let best: (Refusal & { projectId: string }) | undefined;
    for (const p of cmd.projects) {
      const key = projectLogKey({ projectId: p.projectId, model: cmd.model });
      const cooldownUntilMs = this.#cooldowns.get(cooldownKey(p.projectId, cmd.model));
      const own: Scope = { scope: 'project', log: this.#log(key), dayKey: `${key}|${cmd.day}`, limits: p.projectLimits };
      const ownRefusal: Refusal | undefined =
        cooldownUntilMs !== undefined && cooldownUntilMs > nowMs
          ? { admitted: false, scope: 'project', dimension: 'cooldown', limit: 0, used: 0, retryAfterMs: cooldownUntilMs - nowMs }
          : this.#check(own, cmd, nowMs);
      const refusal = later(ownRefusal, sharedRefusal);
      if (refusal) {
        if (!best || refusal.retryAfterMs < best.retryAfterMs) best = { ...refusal, projectId: p.projectId };
        continue;
      }
      const after = [own, ...shared].map((s) => this.#count(s, cmd));
      return {
        admitted: true,
        projectId: p.projectId,
        usedAfter: { project: after[0]!, tenant: after[1]!, ...(after[2] ? { key: after[2] } : {}) },
      };
    }
    if (!best) throw new Error('admitPool: a pool needs at least one project');
    return best;
  }

  /** The latest-freeing refusing dimension of one scope, or undefined when it has room. */
  #check(s: { scope: QuotaScope; log: SlidingLog; dayKey: string; limits: Limits }, cmd: Pick<AdmitCommand, 'tokens' | 'images' | 'dayEndsAtMs'>, nowMs: number): Refusal | undefined {
    s.log.trim(nowMs);
    const dayCount = this.#days.get(s.dayKey)?.count ?? 0;
    let refusal: Refusal | undefined;
    for (const dim of QUOTA_DIMENSIONS) {
      const limit = s.limits[dim];
      if (limit === undefined) continue;
      const used = dim === 'rpd' ? dayCount : s.log.sums[dim];
      const cost = dim === 'rpd' ? 1 : costOf(cmd, dim);
      if (used + cost <= limit) continue;
      const retryAfterMs = dim === 'rpd' ? cmd.dayEndsAtMs - nowMs : s.log.retryAfterMs(dim, used + cost - limit, nowMs);
      if (!refusal || retryAfterMs > refusal.retryAfterMs) refusal = { admitted: false, scope: s.scope, dimension: dim, limit, used, retryAfterMs };
    }
    return refusal;
  }

  #count(s: { log: SlidingLog; dayKey: string }, cmd: Pick<AdmitCommand, 'nowMs' | 'entryId' | 'tokens' | 'images' | 'dayEndsAtMs'>): { rpm: number; rpd: number } {
    s.log.add({ atMs: cmd.nowMs, entryId: cmd.entryId, tokens: cmd.tokens, images: cmd.images });
    const day = this.#days.get(s.dayKey);
    if (day) day.count += 1;
    else this.#days.set(s.dayKey, { count: 1, expiresAtMs: cmd.dayEndsAtMs + EXPIRY_SLACK_MS });
    return { rpm: s.log.sums.rpm, rpd: day ? day.count : 1 };
  }

  async correctTokens(cmd: CorrectCommand): Promise<void> {
    const keys = cmd.pooled
      ? [projectLogKey(cmd), `pt|${cmd.slot ?? ''}|${cmd.tenantId}`, ...(cmd.keyId !== undefined ? [`pk|${cmd.slot ?? ''}|${cmd.keyId}`] : [])]
      : [projectLogKey(cmd), tenantLogKey(cmd)];
    if (!cmd.pooled && cmd.keyId !== undefined) keys.push(keyLogKey({ projectId: cmd.projectId, keyId: cmd.keyId }));
    for (const key of keys) {
      const log = this.#logs.get(key);
      const e = log?.find(cmd.entryId, cmd.admittedAtMs);
      // Once per admission, as correct.lua: only an entry still holding the estimates is swapped.
      if (!log || !e || e.tokens !== cmd.estimatedTokens || e.images !== cmd.estimatedImages) continue;
      log.sums.tpm += cmd.actualTokens - e.tokens;
      log.sums.ipm += cmd.actualImages - e.images;
      e.tokens = cmd.actualTokens;
      e.images = cmd.actualImages;
    }
  }

  async startCooldown(projectId: string, model: string, untilMs: number, nowMs: number): Promise<void> {
    this.#sweep(nowMs);
    const key = cooldownKey(projectId, model);
    if (untilMs > (this.#cooldowns.get(key) ?? 0)) this.#cooldowns.set(key, untilMs);
  }

  async projectUsage(projectId: string, model: string, nowMs: number, day: string): Promise<WindowUsage> {
    const key = projectLogKey({ projectId, model });
    const log = this.#logs.get(key);
    log?.trim(nowMs);
    return {
      rpm: log?.sums.rpm ?? 0,
      tpm: log?.sums.tpm ?? 0,
      ipm: log?.sums.ipm ?? 0,
      rpd: this.#days.get(`${key}|${day}`)?.count ?? 0,
      newestAtMs: log?.newestAtMs(),
      cooldownUntilMs: activeCooldown(this.#cooldowns.get(cooldownKey(projectId, model)), nowMs),
    };
  }

  async budgetReserve(cmd: BudgetReserveCommand): Promise<BudgetReserveOutcome> {
    this.#sweep(cmd.nowMs);
    const counters: BudgetCounter[] = [];
    const missing: BudgetPeriodRef[] = [];
    for (const p of cmd.periods) {
      const c = this.#budgets.get(budgetKey(cmd.tenantId, p));
      if (c) counters.push(c);
      else missing.push(refOf(p));
    }
    if (missing.length > 0) return { status: 'missing', periods: missing };
    let refusal: BudgetReserveOutcome | undefined;
    cmd.periods.forEach((p, i) => {
      const c = counters[i]!;
      dropLapsedHolds(c, cmd.nowMs);
      if (c.spent + c.reserved + cmd.amountNanoUsd > p.limitNanoUsd) {
        refusal = { status: 'refused', period: refOf(p), limitNanoUsd: p.limitNanoUsd, spentNanoUsd: c.spent, reservedNanoUsd: c.reserved };
      }
    });
    if (refusal) return refusal;
    for (const c of counters) {
      c.holds.set(cmd.reservationId, { amount: cmd.amountNanoUsd, untilMs: cmd.holdUntilMs });
      c.reserved += cmd.amountNanoUsd;
    }
    return { status: 'reserved', counters: counters.map((c) => ({ spentNanoUsd: c.spent, reservedNanoUsd: c.reserved })) };
  }

  async budgetRead(cmd: BudgetReadCommand): Promise<Array<BudgetCounterState | undefined>> {
    this.#sweep(cmd.nowMs);
    return cmd.periods.map((p) => {
      const c = this.#budgets.get(budgetKey(cmd.tenantId, p));
      if (!c) return undefined;
      dropLapsedHolds(c, cmd.nowMs);
      return { spentNanoUsd: c.spent, reservedNanoUsd: c.reserved };
    });
  }

  async budgetSeed(cmd: BudgetSeedCommand): Promise<void> {
    const key = budgetKey(cmd.tenantId, cmd.period);
    if (this.#budgets.has(key)) return;
    this.#budgets.set(key, { spent: cmd.spentNanoUsd, reserved: 0n, holds: new Map(), expiresAtMs: cmd.period.endsAtMs + EXPIRY_SLACK_MS });
  }

  async budgetSettle(cmd: BudgetSettleCommand): Promise<void> {
    for (const p of cmd.periods) {
      // A counter that vanished is rebuilt from the ledger, which will hold this cost.
      const c = this.#budgets.get(budgetKey(cmd.tenantId, p));
      if (!c) continue;
      const hold = c.holds.get(cmd.reservationId);
      if (hold) {
        c.reserved -= hold.amount;
        c.holds.delete(cmd.reservationId);
      }
      c.spent += cmd.actualNanoUsd;
    }
  }

  async pinSignatures(cmd: PinSignaturesCommand): Promise<void> {
    // Pins lapse in the order they were made (one TTL per pool): forget those at the front that have.
    for (const [key, pin] of this.#signatures) {
      if (pin.untilMs > cmd.nowMs) break;
      this.#signatures.delete(key);
    }
    if (cmd.untilMs <= cmd.nowMs) return;
    for (const digest of cmd.digests) {
      const key = `${cmd.poolId}|${digest}`;
      // Re-pinned: moved to the back, where its new deadline belongs.
      this.#signatures.delete(key);
      this.#signatures.set(key, { projectId: cmd.projectId, untilMs: cmd.untilMs });
    }
  }

  async signaturePins(query: SignaturePinsQuery): Promise<Array<string | undefined>> {
    return query.digests.map((digest) => {
      const pin = this.#signatures.get(`${query.poolId}|${digest}`);
      return pin && pin.untilMs > query.nowMs ? pin.projectId : undefined;
    });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  #log(key: string): SlidingLog {
    let log = this.#logs.get(key);
    if (!log) {
      log = new SlidingLog();
      this.#logs.set(key, log);
    }
    return log;
  }

  /** Forgets what has aged out, at most once per window of (injected) time. */
  #sweep(nowMs: number): void {
    if (nowMs < this.#nextSweepAtMs) return;
    this.#nextSweepAtMs = nowMs + WINDOW_MS;
    for (const [key, log] of this.#logs) {
      log.trim(nowMs);
      if (log.size === 0) this.#logs.delete(key);
    }
    for (const [key, day] of this.#days) if (day.expiresAtMs <= nowMs) this.#days.delete(key);
    for (const [key, untilMs] of this.#cooldowns) if (untilMs <= nowMs) this.#cooldowns.delete(key);
    for (const [key, b] of this.#budgets) if (b.expiresAtMs <= nowMs) this.#budgets.delete(key);
  }
}

type Refusal = Extract<AdmitOutcome, { admitted: false }>;

/** Of two refusals, the one that frees later (the first on a tie): the call waits for both. */
function later(a: Refusal | undefined, b: Refusal | undefined): Refusal | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.retryAfterMs > a.retryAfterMs ? b : a;
}

function projectLogKey(c: { projectId: string; model: string }): string {
  return `p|${c.projectId}|${c.model}`;
}

function tenantLogKey(c: { projectId: string; tenantId: string }): string {
  return `t|${c.projectId}|${c.tenantId}`;
}

/** A key's limits are its share of its project, across models, like its tenant's. */
function keyLogKey(c: { projectId: string; keyId: string }): string {
  return `k|${c.projectId}|${c.keyId}`;
}

/** A cool-down deadline that is still ahead of nowMs, as admit.lua and the Redis store read it. */
function activeCooldown(untilMs: number | undefined, nowMs: number): number | undefined {
  return untilMs !== undefined && untilMs > nowMs ? untilMs : undefined;
}

function cooldownKey(projectId: string, model: string): string {
  return `${projectId}|${model}`;
}

function budgetKey(tenantId: string, p: { keyId?: string; period: BudgetPeriod; key: string }): string {
  return p.keyId === undefined ? `${tenantId}|${p.period}|${p.key}` : `${tenantId}|k|${p.keyId}|${p.period}|${p.key}`;
}

/** The reference alone, without the limit a command carries beside it. */
function refOf(p: BudgetPeriodRef): BudgetPeriodRef {
  return { ...(p.keyId !== undefined ? { keyId: p.keyId } : {}), period: p.period, key: p.key, endsAtMs: p.endsAtMs };
}

/** A reservation never settled (its instance killed mid-call) stops holding budget when its hold lapses. */
function dropLapsedHolds(c: BudgetCounter, nowMs: number): void {
  for (const [id, hold] of c.holds) {
    if (hold.untilMs <= nowMs) {
      c.reserved -= hold.amount;
      c.holds.delete(id);
    }
  }
}

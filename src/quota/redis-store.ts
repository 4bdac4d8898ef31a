/**
 * The shared store: quota windows, cool-downs and budget counters in Redis or Redis Cluster,
 * so every gateway instance sees the same counts (contract §7: exact with any number of
 * instances). Each operation is one Lua script (redis-scripts.ts), each admission its own atomic
 * one. What an instance sends during one turn of the event loop leaves in one write (#holdTurn),
 * and token corrections and budget settlements, which decide nothing, are batched: one script
 * call per hash tag per turn (ScriptBatcher).
 *
 * Cluster: all keys of one admission share the hash tag `{p:<project>}` (tenant and API-key
 * scopes too: their limits are shares of their project), and all budget keys of a tenant,
 * its API keys' own budgets included, share `{b:<tenant>}`, so every script touches one slot.
 * A project in a pool (#17) is under its pool's tag `{q:<pool>}` instead, from any path, so a
 * pool admission over all of its projects touches one slot too.
 */
import type { Cluster, Redis } from 'ioredis';
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
  PoolAdmitCommand,
  PoolAdmitOutcome,
  QuotaDimension,
  QuotaScope,
  QuotaStore,
  WindowUsage,
} from './store.js';
import type { Limits } from './limits.js';
import { WINDOW_MS } from './windows.js';
import { ScriptBatcher } from './script-batcher.js';
import {
  POOL_ADMIT_LUA,
  ADMIT_LUA,
  BUDGET_READ_LUA,
  BUDGET_RESERVE_LUA,
  BUDGET_SEED_LUA,
  BUDGET_SETTLE_LUA,
  COOLDOWN_LUA,
  CORRECT_LUA,
  TTL_REFRESH_MS,
  USAGE_LUA,
} from './redis-scripts.js';

/** Keys outlive what they count a little (instance clocks may differ); TTLs only collect garbage. */
const EXPIRY_SLACK_MS = 3_600_000;
/**
 * A minute log's TTL. Admissions push it back at most every TTL_REFRESH_MS (redis-scripts.ts), so
 * after any admission a log still lives WINDOW_MS + 60 s at least, as when every admission did.
 */
const LOG_TTL_MS = WINDOW_MS + 60_000 + TTL_REFRESH_MS;
const WINDOW_ARG = String(WINDOW_MS);
const LOG_TTL_ARG = String(LOG_TTL_MS);
/** A dimension without a limit, as the admission scripts take it. */
const UNLIMITED = '-1';
/** Admissions' key lists kept (ADMIT_LUA's KEYS by project, model, pool, tenant, key and day); emptied when full. */
const ADMIT_KEYS_CACHED = 1_024;
const FIRST_CONNECT_WAIT_MS = 5_000;
/** Corrections or settlements per script call at most: a busier turn sends several calls. */
const MAX_BATCH = 128;

type Arg = string | number;

/** The commands defineCommand adds to the client. */
interface ScriptCommands {
  /** Key count first: an admission spans two or three scopes. */
  nanogateAdmit(...args: Arg[]): Promise<unknown>;
  /** Key count first, as admit. */
  nanogatePoolAdmit(...args: Arg[]): Promise<unknown>;
  /** Key count first: a batch spans the scopes of all its corrections. */
  nanogateCorrect(...args: Arg[]): Promise<unknown>;
  nanogateCooldown(...args: Arg[]): Promise<unknown>;
  nanogateUsage(...args: Arg[]): Promise<unknown>;
  /** Key count first: a budget spans one or two periods. */
  nanogateBudgetReserve(...args: Arg[]): Promise<unknown>;
  nanogateBudgetSeed(...args: Arg[]): Promise<unknown>;
  nanogateBudgetSettle(...args: Arg[]): Promise<unknown>;
  nanogateBudgetRead(...args: Arg[]): Promise<unknown>;
}

export interface RedisQuotaStoreOptions {
  /** Owned by the store from here on: close() quits it. */
  client: Redis | Cluster;
  /** Prefix of every key; tests use a unique one each. Default 'nanogate:'. */
  keyPrefix?: string;
}

/** A correction waiting for its batch: its scopes' key bases (each has :log and :sums) and what CORRECT_LUA needs. */
interface QueuedCorrection {
  scopes: string[];
  oldMember: string;
  newMember: string;
  score: number;
  tokenDelta: number;
  imageDelta: number;
}

/** A settlement waiting for its batch: its periods' HASH and holds keys and what BUDGET_SETTLE_LUA needs. */
interface QueuedSettlement {
  periods: Array<[string, string]>;
  holdMember: string;
  heldNanoUsd: string;
  actualNanoUsd: string;
}

/** A socket ioredis writes commands to: corked for the rest of a turn (RedisQuotaStore.#holdTurn). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** The arguments both admission scripts take after their keys: now, the windows, the entry and its counts. */
function admissionArgs(cmd: Pick<AdmitCommand, 'nowMs' | 'entryId' | 'tokens' | 'images' | 'dayEndsAtMs'>): Arg[] {
  return [
    cmd.nowMs,
    cmd.nowMs - WINDOW_MS,
    `${cmd.entryId}|${cmd.tokens}|${cmd.images}`,
    cmd.tokens,
    cmd.images,
    WINDOW_ARG,
    LOG_TTL_ARG,
    cmd.dayEndsAtMs - cmd.nowMs + EXPIRY_SLACK_MS,
    cmd.dayEndsAtMs - cmd.nowMs,
  ];
}

export class RedisQuotaStore implements QuotaStore {
  readonly #client: Redis | Cluster;
  readonly #scripts: ScriptCommands;
  readonly #prefix: string;
  /** Settles on the first connection's outcome, so start-up is not mistaken for an outage. */
  readonly #firstAttempt: Promise<void>;
  #firstAttemptSettled = false;
  /** The client's last connection error: what a failed ping reports (ioredis's own says only "Stream isn't writeable"). */
  #lastError: Error | undefined;
  readonly #admitKeyCache = new Map<string, string[]>();
  /** The sockets corked for the rest of this turn of the event loop, until #endTurn (#holdTurn). */
  #held: Corkable[] | undefined;
  /** #endTurn is scheduled. */
  #turnEnding = false;
  /** Token and image corrections waiting for the end of this turn, by hash tag. */
  readonly #corrections = new ScriptBatcher<QueuedCorrection>({
    send: (_tag, batch) => this.#sendCorrections(batch),
    maxBatch: MAX_BATCH,
    onQueued: () => this.#endTurnSoon(),
  });
  /** Budget settlements waiting for the end of this turn, by tenant (their hash tag). */
  readonly #settlements = new ScriptBatcher<QueuedSettlement>({
    send: (_tag, batch) => this.#sendSettlements(batch),
    maxBatch: MAX_BATCH,
    onQueued: () => this.#endTurnSoon(),
  });

  constructor(opts: RedisQuotaStoreOptions) {
    this.#client = opts.client;
    this.#prefix = opts.keyPrefix ?? 'nanogate:';
    const c = opts.client;
    const remember = (e: Error) => {
      this.#lastError = e;
    };
    c.on('error', remember);
    // A Cluster reports each node's connection failure here.
    c.on('node error', remember);
    c.on('ready', () => {
      this.#lastError = undefined;
    });
    if (c.status === 'ready') {
      this.#firstAttemptSettled = true;
      this.#firstAttempt = Promise.resolve();
    } else {
      this.#firstAttempt = new Promise<void>((resolve) => {
        const done = () => {
          this.#firstAttemptSettled = true;
          c.off('ready', done);
          c.off('error', done);
          c.off('end', done);
          clearTimeout(timer);
          resolve();
        };
        c.on('ready', done);
        c.on('error', done);
        c.on('end', done);
        // Cluster does not always emit 'error' when no node answers: bound the wait anyway.
        const timer = setTimeout(done, FIRST_CONNECT_WAIT_MS);
        timer.unref();
      });
    }
    c.defineCommand('nanogateAdmit', { lua: ADMIT_LUA });
    c.defineCommand('nanogatePoolAdmit', { lua: POOL_ADMIT_LUA });
    c.defineCommand('nanogateCorrect', { lua: CORRECT_LUA });
    c.defineCommand('nanogateCooldown', { lua: COOLDOWN_LUA, numberOfKeys: 1 });
    c.defineCommand('nanogateUsage', { lua: USAGE_LUA, numberOfKeys: 3 });
    c.defineCommand('nanogateBudgetReserve', { lua: BUDGET_RESERVE_LUA });
    c.defineCommand('nanogateBudgetSeed', { lua: BUDGET_SEED_LUA, numberOfKeys: 2 });
    c.defineCommand('nanogateBudgetSettle', { lua: BUDGET_SETTLE_LUA });
    c.defineCommand('nanogateBudgetRead', { lua: BUDGET_READ_LUA });
    this.#scripts = c as unknown as ScriptCommands;
  }

  /**
   * Worth sending a command to: connected, or still making its first connection (calls wait
   * for that). False while ioredis reconnects: the failover then goes straight to local counters.
   */
  isAvailable(): boolean {
    return this.#client.status === 'ready' || !this.#firstAttemptSettled;
  }

  /** The script commands, once the first connection attempt has settled; what is sent with them leaves at the end of this turn (#holdTurn). */
  async #ready(): Promise<ScriptCommands> {
    if (!this.#firstAttemptSettled) await this.#firstAttempt;
    this.#holdTurn();
    return this.#scripts;
  }

  /**
   * Everything this instance sends Redis during one turn of the event loop leaves in one write:
   * the first command of a turn corks the client's socket(s) and schedules the end of the turn
   * (setImmediate: after this turn's I/O callbacks, so the admissions of all the requests that
   * arrived together), which sends the corrections and settlements queued meanwhile, then
   * uncorks. Each write to a loopback socket costs the sender about as much as its share of the
   * work, and Redis a wake-up and a read (#15); measured, sending a turn's first command at once
   * and the rest at its end costs more than it gains. Nothing waits longer than the rest of the
   * turn it was sent in.
   */
  #holdTurn(): void {
    if (!this.#held) {
      this.#held = this.#sockets();
      for (const s of this.#held) s.cork();
    }
    this.#endTurnSoon();
  }

  #endTurnSoon(): void {
    if (this.#turnEnding) return;
    this.#turnEnding = true;
    setImmediate(this.#endTurn);
  }

  readonly #endTurn = (): void => {
    this.#turnEnding = false;
    let held = this.#held;
    this.#held = undefined;
    if (this.#corrections.size > 0 || this.#settlements.size > 0) {
      if (!held) {
        held = this.#sockets();
        for (const s of held) s.cork();
      }
      // Sent while corked: the batches leave in the same write as the turn's held commands.
      this.#corrections.flush();
      this.#settlements.flush();
    }
    for (const s of held ?? []) s.uncork();
  };

  /** The sockets commands are written to: the client's, or each Cluster node's. */
  #sockets(): Corkable[] {
    const c = this.#client;
    const streams: unknown[] = c.isCluster ? (c as Cluster).nodes('all').map((n) => n.stream) : [(c as Redis).stream];
    return streams.filter((s): s is Corkable => typeof (s as Partial<Corkable> | undefined)?.cork === 'function');
  }

  async admit(cmd: AdmitCommand): Promise<AdmitOutcome> {
    const keyLimits = cmd.keyId !== undefined ? cmd.keyLimits : undefined;
    const keys = this.#admitKeys(cmd, keyLimits !== undefined);
    const args: Arg[] = [keys.length, ...keys, ...admissionArgs(cmd), 'project', ...limitArgs(cmd.projectLimits), 'tenant', ...limitArgs(cmd.tenantLimits)];
    if (keyLimits) args.push('key', ...limitArgs(keyLimits));
    const reply = await (await this.#ready()).nanogateAdmit(...args);
    return parseAdmitReply(reply, keyLimits ? 3 : 2);
  }

  /** ADMIT_LUA's KEYS: the cool-down, then the log, sums and day counter of each scope. Built once per day and caller, not per call. */
  #admitKeys(cmd: AdmitCommand, withKey: boolean): string[] {
    // Ids are config ids ([A-Za-z0-9._-]): a newline separates them unambiguously.
    const id = `${cmd.projectId}\n${cmd.model}\n${cmd.slot === undefined ? '' : `+${cmd.slot}`}\n${cmd.tenantId}\n${withKey ? cmd.keyId : ''}\n${cmd.day}`;
    let keys = this.#admitKeyCache.get(id);
    if (keys === undefined) {
      const p = this.#projectModelKey(cmd.projectId, cmd.model, cmd.slot);
      const scopes = [p, this.#tenantKey(cmd.projectId, cmd.tenantId, cmd.slot)];
      if (withKey) scopes.push(this.#keyKey(cmd.projectId, cmd.keyId!, cmd.slot));
      keys = [`${p}:cooldown`, ...scopes.flatMap((s) => [`${s}:log`, `${s}:sums`, `${s}:day:${cmd.day}`])];
      if (this.#admitKeyCache.size >= ADMIT_KEYS_CACHED) this.#admitKeyCache.clear();
      this.#admitKeyCache.set(id, keys);
    }
    return keys;
  }

  async admitPool(cmd: PoolAdmitCommand): Promise<PoolAdmitOutcome> {
    const tag = this.#poolTag(cmd.poolId);
    const shared: Array<{ name: string; key: string; limits: Limits }> = [{ name: 'tenant', key: `${tag}:t:${cmd.tenantId}`, limits: cmd.tenantLimits }];
    if (cmd.keyId !== undefined && cmd.keyLimits) shared.push({ name: 'key', key: `${tag}:k:${cmd.keyId}`, limits: cmd.keyLimits });
    const keys = [
      ...shared.flatMap((s) => [`${s.key}:log`, `${s.key}:sums`, `${s.key}:day:${cmd.day}`]),
      ...cmd.projects.flatMap((p) => {
        const k = this.#projectModelKey(p.projectId, cmd.model, cmd.poolId);
        return [`${k}:cooldown`, `${k}:log`, `${k}:sums`, `${k}:day:${cmd.day}`];
      }),
    ];
    const reply = await (await this.#ready()).nanogatePoolAdmit(
      keys.length,
      ...keys,
      ...admissionArgs(cmd),
      shared.length,
      ...shared.flatMap((s) => [s.name, ...limitArgs(s.limits)]),
      ...cmd.projects.flatMap((p) => limitArgs(p.projectLimits)),
    );
    if (!Array.isArray(reply)) throw new Error(`pool admit: unexpected reply ${JSON.stringify(reply)}`);
    const index = reply[0] === 1 ? reply[1] : reply[6];
    const project = typeof index === 'number' ? cmd.projects[index - 1] : undefined;
    if (!project) throw new Error(`pool admit: unexpected reply ${JSON.stringify(reply)}`);
    const outcome = parseAdmitReply(reply[0] === 1 ? [1, ...reply.slice(2)] : reply.slice(0, 6), 1 + shared.length);
    return { ...outcome, projectId: project.projectId };
  }

  /**
   * Queued, and sent with the other corrections of its hash tag at the end of this turn of the
   * event loop, in one script call (ScriptBatcher): a correction decides nothing, so it need
   * not cost a round trip of its own. Resolves once Redis has it.
   */
  correctTokens(cmd: CorrectCommand): Promise<void> {
    const pool = cmd.pooled ? this.#poolTag(cmd.slot ?? '') : undefined;
    const project = this.#projectModelKey(cmd.projectId, cmd.model, cmd.slot);
    const scopes = pool ? [project, `${pool}:t:${cmd.tenantId}`] : [project, this.#tenantKey(cmd.projectId, cmd.tenantId, cmd.slot)];
    if (cmd.keyId !== undefined) scopes.push(pool ? `${pool}:k:${cmd.keyId}` : this.#keyKey(cmd.projectId, cmd.keyId, cmd.slot));
    return this.#corrections.add(cmd.slot === undefined ? `p:${cmd.projectId}` : `q:${cmd.slot}`, {
      scopes,
      oldMember: `${cmd.entryId}|${cmd.estimatedTokens}|${cmd.estimatedImages}`,
      newMember: `${cmd.entryId}|${cmd.actualTokens}|${cmd.actualImages}`,
      score: cmd.admittedAtMs,
      tokenDelta: cmd.actualTokens - cmd.estimatedTokens,
      imageDelta: cmd.actualImages - cmd.estimatedImages,
    });
  }

  /** One CORRECT_LUA call for corrections under one hash tag: each scope's keys named once. Sent synchronously when connected (#endTurn). */
  async #sendCorrections(batch: readonly QueuedCorrection[]): Promise<unknown> {
    const index = new Map<string, number>();
    const keys: string[] = [];
    const args: Arg[] = [];
    for (const c of batch) {
      args.push(c.scopes.length);
      for (const scope of c.scopes) {
        let i = index.get(scope);
        if (i === undefined) {
          i = index.size + 1;
          index.set(scope, i);
          keys.push(`${scope}:log`, `${scope}:sums`);
        }
        args.push(i);
      }
      args.push(c.oldMember, c.newMember, c.score, c.tokenDelta, c.imageDelta);
    }
    return (this.#firstAttemptSettled ? this.#scripts : await this.#ready()).nanogateCorrect(keys.length, ...keys, ...args);
  }

  async startCooldown(projectId: string, model: string, untilMs: number, nowMs: number, slot?: string): Promise<void> {
    if (untilMs <= nowMs) return;
    await (await this.#ready()).nanogateCooldown(`${this.#projectModelKey(projectId, model, slot)}:cooldown`, untilMs, untilMs - nowMs);
  }

  async projectUsage(projectId: string, model: string, nowMs: number, day: string, slot?: string): Promise<WindowUsage> {
    const p = this.#projectModelKey(projectId, model, slot);
    const reply = await (await this.#ready()).nanogateUsage(`${p}:log`, `${p}:day:${day}`, `${p}:cooldown`, nowMs - WINDOW_MS);
    const [rpm, tpm, ipm, newest, rpd] = integers(reply, 5, 'usage');
    // The key's TTL only collects garbage: the deadline itself says whether it is still in force.
    const cooldownUntil = Array.isArray(reply) && typeof reply[5] === 'number' ? reply[5] : 0;
    return { rpm, tpm, ipm, rpd, newestAtMs: newest >= 0 ? newest : undefined, cooldownUntilMs: cooldownUntil > nowMs ? cooldownUntil : undefined };
  }

  /**
   * Thought signature pins (#17.5): one string per digest under the pool's tag, `<project>|<untilMs>`.
   * The deadline in the value decides (the gateway's clock, as for cool-downs); the TTL only
   * collects garbage. Plain SET and MGET: a pin decides nothing atomically with anything else.
   */
  pinSignatures: QuotaStore['pinSignatures'] = async (cmd) => {
    if (cmd.untilMs <= cmd.nowMs || cmd.digests.length === 0) return;
    await this.#ready();
    const value = `${cmd.projectId}|${cmd.untilMs}`;
    const ttlMs = cmd.untilMs - cmd.nowMs + EXPIRY_SLACK_MS;
    await Promise.all(cmd.digests.map((digest) => this.#client.set(this.#signatureKey(cmd.poolId, digest), value, 'PX', ttlMs)));
  };

  signaturePins: QuotaStore['signaturePins'] = async (query) => {
    if (query.digests.length === 0) return [];
    await this.#ready();
    const values = await this.#client.mget(...query.digests.map((digest) => this.#signatureKey(query.poolId, digest)));
    return values.map((v) => {
      const bar = v?.lastIndexOf('|') ?? -1;
      return v && bar > 0 && Number(v.slice(bar + 1)) > query.nowMs ? v.slice(0, bar) : undefined;
    });
  };

  #signatureKey(poolId: string, digest: string): string {
    return `${this.#poolTag(poolId)}:sig:${digest}`;
  }

  async budgetReserve(cmd: BudgetReserveCommand): Promise<BudgetReserveOutcome> {
    const keys = cmd.periods.flatMap((p) => this.#budgetKeys(cmd.tenantId, p));
    const perPeriod = cmd.periods.flatMap((p) => [p.limitNanoUsd.toString(), Math.max(1, p.endsAtMs - cmd.nowMs + EXPIRY_SLACK_MS)]);
    const reply = await (await this.#ready()).nanogateBudgetReserve(
      keys.length,
      ...keys,
      cmd.nowMs,
      cmd.reservationId,
      cmd.amountNanoUsd.toString(),
      cmd.holdUntilMs,
      ...perPeriod,
    );
    if (!Array.isArray(reply) || typeof reply[0] !== 'number') throw new Error(`budget reserve: unexpected reply ${JSON.stringify(reply)}`);
    const periodAt = (index: unknown): BudgetPeriodRef & { limitNanoUsd: bigint } => {
      const p = cmd.periods[Number(index) - 1];
      if (!p) throw new Error(`budget reserve: unexpected period index ${String(index)}`);
      return p;
    };
    switch (reply[0]) {
      case 1:
        return { status: 'reserved', counters: cmd.periods.map((_, i) => counterState(reply[1 + 2 * i], reply[2 + 2 * i])) };
      case 2:
        return { status: 'missing', periods: reply.slice(1).map((i) => refOf(periodAt(i))) };
      default: {
        const p = periodAt(reply[1]);
        return { status: 'refused', period: refOf(p), limitNanoUsd: p.limitNanoUsd, spentNanoUsd: BigInt(String(reply[2])), reservedNanoUsd: BigInt(String(reply[3])) };
      }
    }
  }

  async budgetRead(cmd: BudgetReadCommand): Promise<Array<BudgetCounterState | undefined>> {
    if (cmd.periods.length === 0) return [];
    const keys = cmd.periods.flatMap((p) => this.#budgetKeys(cmd.tenantId, p));
    const reply = await (await this.#ready()).nanogateBudgetRead(keys.length, ...keys, cmd.nowMs);
    if (!Array.isArray(reply) || reply.length !== 3 * cmd.periods.length) throw new Error(`budget read: unexpected reply ${JSON.stringify(reply)}`);
    return cmd.periods.map((_, i) => (reply[3 * i] === 1 ? counterState(reply[3 * i + 1], reply[3 * i + 2]) : undefined));
  }

  async budgetSeed(cmd: BudgetSeedCommand): Promise<void> {
    const [hash, holds] = this.#budgetKeys(cmd.tenantId, cmd.period);
    await (await this.#ready()).nanogateBudgetSeed(hash, holds, cmd.spentNanoUsd.toString(), Math.max(1, cmd.period.endsAtMs - cmd.nowMs + EXPIRY_SLACK_MS));
  }

  /**
   * Queued, and sent with the other settlements of its tenant at the end of this turn in one
   * script call, as corrections are. Resolves once Redis has it: a caller that awaits it (the
   * relay does, before the call's outcome) sees the hold replaced by the cost as before.
   */
  budgetSettle(cmd: BudgetSettleCommand): Promise<void> {
    return this.#settlements.add(cmd.tenantId, {
      periods: cmd.periods.map((p) => this.#budgetKeys(cmd.tenantId, p)),
      holdMember: `${cmd.reservationId}|${cmd.amountNanoUsd.toString()}`,
      heldNanoUsd: cmd.amountNanoUsd.toString(),
      actualNanoUsd: cmd.actualNanoUsd.toString(),
    });
  }

  /** One BUDGET_SETTLE_LUA call for a tenant's settlements: each period's keys named once. Sent synchronously when connected. */
  async #sendSettlements(batch: readonly QueuedSettlement[]): Promise<unknown> {
    const index = new Map<string, number>();
    const keys: string[] = [];
    const args: Arg[] = [];
    for (const settlement of batch) {
      args.push(settlement.periods.length);
      for (const [hash, holds] of settlement.periods) {
        let i = index.get(hash);
        if (i === undefined) {
          i = index.size + 1;
          index.set(hash, i);
          keys.push(hash, holds);
        }
        args.push(i);
      }
      args.push(settlement.holdMember, settlement.heldNanoUsd, settlement.actualNanoUsd);
    }
    return (this.#firstAttemptSettled ? this.#scripts : await this.#ready()).nanogateBudgetSettle(keys.length, ...keys, ...args);
  }

  async ping(): Promise<void> {
    await this.#ready();
    try {
      await this.#client.ping();
    } catch (e) {
      const cause = this.#lastError;
      const last = cause && 'lastNodeError' in cause ? ((cause as { lastNodeError?: Error }).lastNodeError ?? cause) : cause;
      throw new Error(last?.message || (e as Error).message, { cause: e });
    }
  }

  async close(): Promise<void> {
    // What is queued goes out first: a correction or settlement accepted before close() is not lost.
    await Promise.all([this.#corrections.drain(), this.#settlements.drain()]);
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  /** A project's own tag, or under its pool's tag when it is in one (named after the project there). */
  #projectBase(projectId: string, slot: string | undefined): string {
    return slot === undefined ? `${this.#prefix}{p:${projectId}}` : `${this.#poolTag(slot)}:p:${projectId}`;
  }

  #poolTag(poolId: string): string {
    return `${this.#prefix}{q:${poolId}}`;
  }

  #projectModelKey(projectId: string, model: string, slot?: string): string {
    return `${this.#projectBase(projectId, slot)}:m:${model}`;
  }

  #tenantKey(projectId: string, tenantId: string, slot?: string): string {
    return `${this.#projectBase(projectId, slot)}:t:${tenantId}`;
  }

  /** Under the project's hash tag too: one admission, one slot, whatever scopes it counts. */
  #keyKey(projectId: string, keyId: string, slot?: string): string {
    return `${this.#projectBase(projectId, slot)}:k:${keyId}`;
  }

  #budgetKeys(tenantId: string, p: { keyId?: string; period: BudgetPeriod; key: string }): [string, string] {
    // A key's own counters sit beside its tenant's, under the tenant's hash tag.
    const owner = p.keyId === undefined ? '' : `k:${p.keyId}:`;
    const hash = `${this.#prefix}{b:${tenantId}}:${owner}${p.period}:${p.key}`;
    return [hash, `${hash}:holds`];
  }
}

/** The reference alone, without the limit a command carries beside it. */
function refOf(p: BudgetPeriodRef): BudgetPeriodRef {
  return { ...(p.keyId !== undefined ? { keyId: p.keyId } : {}), period: p.period, key: p.key, endsAtMs: p.endsAtMs };
}

/** Spent and reserved as the scripts return them: Redis's own integer strings, exact at any size. */
function counterState(spent: unknown, reserved: unknown): BudgetCounterState {
  return { spentNanoUsd: BigInt(String(spent ?? '0')), reservedNanoUsd: BigInt(String(reserved ?? '0')) };
}

function limitArgs(l: Limits): Arg[] {
  return [l.rpm ?? UNLIMITED, l.tpm ?? UNLIMITED, l.rpd ?? UNLIMITED, l.ipm ?? UNLIMITED];
}

function integers(reply: unknown, count: 5, what: string): [number, number, number, number, number] {
  if (!Array.isArray(reply) || reply.length < count || reply.slice(0, count).some((x) => typeof x !== 'number')) {
    throw new Error(`${what}: unexpected reply ${JSON.stringify(reply)}`);
  }
  return reply.slice(0, count) as [number, number, number, number, number];
}

const SCOPES = new Set(['project', 'tenant', 'key']);
const DIMENSIONS = new Set(['rpm', 'tpm', 'rpd', 'ipm', 'cooldown']);

function parseAdmitReply(reply: unknown, scopes: number): AdmitOutcome {
  if (Array.isArray(reply) && reply[0] === 1) {
    const [, pRpm, pRpd, tRpm, tRpd] = integers(reply, 5, 'admit');
    const key = scopes > 2 ? integers(reply.slice(2), 5, 'admit').slice(3) : undefined;
    return {
      admitted: true,
      usedAfter: { project: { rpm: pRpm, rpd: pRpd }, tenant: { rpm: tRpm, rpd: tRpd }, ...(key ? { key: { rpm: key[0]!, rpd: key[1]! } } : {}) },
    };
  }
  if (
    Array.isArray(reply) &&
    reply[0] === 0 &&
    typeof reply[1] === 'string' &&
    SCOPES.has(reply[1]) &&
    typeof reply[2] === 'string' &&
    DIMENSIONS.has(reply[2]) &&
    typeof reply[3] === 'number' &&
    typeof reply[4] === 'number' &&
    typeof reply[5] === 'number'
  ) {
    return {
      admitted: false,
      scope: reply[1] as QuotaScope,
      dimension: reply[2] as QuotaDimension | 'cooldown',
      limit: reply[3],
      used: reply[4],
      retryAfterMs: reply[5],
    };
  }
  throw new Error(`admit: unexpected reply ${JSON.stringify(reply)}`);
}

import type { Logger } from 'pino';
import type { TenantConfig } from '../config/schema.js';
import type { Database, StoredKey, StoredTenant, TenantBudget, TenantChanges, TenantLimits } from '../db/database.js';
import { GatewayError } from '../errors/gateway-error.js';
import { systemClock, type Clock } from '../time/clock.js';
import { hashesEqual, hashKey, keyIdForHash } from './keys.js';

export interface Tenant {
  id: string;
  /** Its project; for a pool's tenant, the pool's first (home) project: batches, files and countTokens go there. */
  projectId: string;
  /** The pool its calls are admitted over (#17), when it names one. */
  poolId?: string;
  limits?: TenantLimits;
  budget?: TenantBudget;
  /** Config tenants are read-only at run time (contract §3); admin ones live in the database. */
  source: 'config' | 'admin';
}

/** What an admin-made key carries of its own (#13.3): enforced like its tenant's, within them. */
export interface KeySettings {
  label: string | null;
  limits?: TenantLimits;
  budget?: TenantBudget;
  /** From this instant on the key is refused with 401 saying it expired. */
  expiresAtMs?: number;
}

export interface Caller {
  tenant: Tenant;
  keyId: string;
  /** Admin-made keys only; config keys carry nothing of their own. */
  key?: KeySettings;
}

interface KeyEntry {
  hash: string;
  keyId: string;
  tenantId: string;
  settings?: KeySettings;
}

function settingsOf(k: StoredKey): KeySettings {
  const limits = Object.values(k.limits).some((v) => v !== undefined) ? k.limits : undefined;
  const budget = k.budget.dailyUsd !== undefined || k.budget.monthlyUsd !== undefined ? k.budget : undefined;
  return { label: k.name, ...(limits ? { limits } : {}), ...(budget ? { budget } : {}), ...(k.expiresAtMs !== null ? { expiresAtMs: k.expiresAtMs } : {}) };
}

function fromConfig(t: TenantConfig, pools: TenantRegistryOptions['pools']): Tenant {
  const home = t.pool !== undefined ? pools?.find((p) => p.id === t.pool)?.projects[0]?.project : undefined;
  return {
    id: t.id,
    projectId: t.project ?? home ?? '',
    ...(t.pool !== undefined ? { poolId: t.pool } : {}),
    source: 'config',
    ...(t.limits ? { limits: t.limits } : {}),
    ...(t.budget ? { budget: t.budget } : {}),
  };
}

function fromDatabase(t: StoredTenant, pools: TenantRegistryOptions['pools']): Tenant {
  // The pool's first project as the config has it now (the row's `project` was it when set).
  const home = t.pool !== undefined ? pools?.find((p) => p.id === t.pool)?.projects[0]?.project : undefined;
  return { id: t.id, projectId: home ?? t.project, ...(t.pool !== undefined ? { poolId: t.pool } : {}), limits: t.limits, budget: t.budget, source: 'admin' };
}

/** Changes are read from a little before the last look: instance clocks differ (NTP keeps that to milliseconds) and commits land late. */
const CHANGE_OVERLAP_MS = 5_000;
/** Now and then the whole list is read again, a safety net under the incremental reads. */
const FULL_RELOAD_EVERY_MS = 10 * 60_000;

export interface TenantRegistryOptions {
  tenants: readonly TenantConfig[];
  /** Config `pools`: a pool's tenant gets the pool's first project as its home project. */
  pools?: ReadonlyArray<{ id: string; projects: ReadonlyArray<{ project: string }> }>;
  db?: Database;
  logger?: Logger;
  refreshIntervalMs?: number;
  /**
   * How long the admin-made keys may go unconfirmed by the database (a failed refresh keeps the
   * last view) before they are refused with 503: a key revoked while this instance could not
   * see the database stops working within this bound. Config keys are never stale.
   */
  maxStaleMs?: number;
  clock?: Clock;
}

/**
 * Who is calling. Config tenants are fixed at start; admin-made tenants and keys come from the
 * database: read whole at start, then only what changed since the last look (every 2 s by
 * default, and after each admin change), so every instance sees a change within 5 s (contract
 * §3) and 10,000 tenants cost no more per refresh than ten. Lookups are one hash and one
 * Map.get: no I/O on the request path.
 */
export class TenantRegistry {
  readonly #configTenants: ReadonlyMap<string, Tenant>;
  readonly #configKeys: ReadonlyMap<string, KeyEntry>;
  /** Live, enabled admin tenants. */
  #adminTenants = new Map<string, Tenant>();
  /** Unrevoked admin keys by hash, whatever their tenant's state (a tenant may be re-enabled). */
  #adminKeys = new Map<string, KeyEntry>();
  readonly #db: Database | undefined;
  readonly #pools: TenantRegistryOptions['pools'];
  readonly #logger: Logger | undefined;
  readonly #refreshIntervalMs: number;
  readonly #maxStaleMs: number;
  readonly #clock: Clock;
  #timer: NodeJS.Timeout | undefined;
  /** Local time the last successful read started at; changes are read from before it. */
  #syncedAtMs: number | undefined;
  #fullReloadAtMs = 0;
  #refreshing: Promise<void> | undefined;
  #failing = false;

  constructor(opts: TenantRegistryOptions) {
    this.#configTenants = new Map(opts.tenants.map((t) => [t.id, fromConfig(t, opts.pools)]));
    const keys = new Map<string, KeyEntry>();
    for (const t of opts.tenants) for (const hash of t.keys) keys.set(hash, { hash, keyId: keyIdForHash(hash), tenantId: t.id });
    this.#configKeys = keys;
    this.#db = opts.db;
    this.#pools = opts.pools;
    this.#logger = opts.logger;
    this.#refreshIntervalMs = opts.refreshIntervalMs ?? 2_000;
    this.#maxStaleMs = opts.maxStaleMs ?? 60_000;
    this.#clock = opts.clock ?? systemClock;
  }

  /** Loads admin tenants, then keeps them fresh in the background. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.#db && this.#refreshIntervalMs > 0) {
      this.#timer = setInterval(() => {
        this.refresh().catch(() => {});
      }, this.#refreshIntervalMs);
      this.#timer.unref();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Reads what changed in the database since the last look (everything, the first time and now
   * and then); a failed read keeps the previous view and rejects. Concurrent calls share one read.
   */
  refresh(): Promise<void> {
    if (!this.#db) return Promise.resolve();
    // One read at a time; a refresh asked for during one runs after it, so it sees the change.
    const run = async (): Promise<void> => {
      const startedAtMs = this.#clock.nowMs();
      const full = this.#syncedAtMs === undefined || startedAtMs >= this.#fullReloadAtMs;
      let changes: TenantChanges;
      try {
        changes = await this.#db!.changesSince(full ? 0 : this.#syncedAtMs! - CHANGE_OVERLAP_MS);
      } catch (e) {
        if (!this.#failing) this.#logger?.warn({ err: (e as Error).message }, 'tenant refresh failed; keeping the last known tenants and keys');
        this.#failing = true;
        throw e;
      }
      if (full) {
        this.#adminTenants = new Map();
        this.#adminKeys = new Map();
        this.#fullReloadAtMs = startedAtMs + FULL_RELOAD_EVERY_MS;
      }
      this.#apply(changes);
      this.#syncedAtMs = startedAtMs;
      if (this.#failing) this.#logger?.info('tenant refresh recovered');
      this.#failing = false;
    };
    const next = (this.#refreshing ?? Promise.resolve()).catch(() => {}).then(run);
    this.#refreshing = next;
    void next.finally(() => {
      if (this.#refreshing === next) this.#refreshing = undefined;
    }).catch(() => {});
    return next;
  }

  #apply(changes: TenantChanges): void {
    for (const t of changes.tenants) {
      if (t.disabled || this.#configTenants.has(t.id)) this.#adminTenants.delete(t.id);
      else this.#adminTenants.set(t.id, fromDatabase(t, this.#pools));
    }
    for (const id of changes.deletedTenantIds) this.#adminTenants.delete(id);
    for (const k of changes.keys as StoredKey[]) {
      if (k.revokedAtMs !== null) this.#adminKeys.delete(k.hash);
      else this.#adminKeys.set(k.hash, { hash: k.hash, keyId: k.keyId, tenantId: k.tenantId, settings: settingsOf(k) });
    }
  }

  /**
   * The caller a presented key belongs to, or undefined for unknown and revoked keys. Throws
   * STORE_UNAVAILABLE for a key that is not in the config while the database has not been
   * read successfully for longer than maxStaleMs: it may have been revoked since.
   */
  authenticate(presentedKey: string): Caller | undefined {
    const hash = hashKey(presentedKey);
    const configEntry = this.#configKeys.get(hash);
    if (!configEntry && this.#db && this.#stale()) {
      throw new GatewayError('STORE_UNAVAILABLE', 'The gateway cannot confirm API keys right now (its database is unreachable); try again shortly.', {
        retryAfterMs: this.#refreshIntervalMs || 5_000,
      });
    }
    const entry = configEntry ?? this.#adminKeys.get(hash);
    // The Map finds the candidate; the final comparison is constant-time anyway.
    if (!entry || !hashesEqual(entry.hash, hash)) return undefined;
    const tenant = this.tenant(entry.tenantId);
    if (!tenant) return undefined;
    const expiresAtMs = entry.settings?.expiresAtMs;
    if (expiresAtMs !== undefined && this.#clock.nowMs() >= expiresAtMs) {
      // The holder has a real key, just an old one: say so, rather than "not valid".
      throw new GatewayError('UNAUTHENTICATED', `This API key (${entry.keyId}) expired at ${new Date(expiresAtMs).toISOString()}; ask the gateway's operator for a new one.`, {
        keyExpired: true,
      });
    }
    return entry.settings ? { tenant, keyId: entry.keyId, key: entry.settings } : { tenant, keyId: entry.keyId };
  }

  /** Only a registry that keeps itself fresh can fall behind; one refreshed by hand (tests) cannot. */
  #stale(): boolean {
    if (this.#refreshIntervalMs <= 0) return false;
    return this.#syncedAtMs === undefined || this.#clock.nowMs() - this.#syncedAtMs > this.#maxStaleMs;
  }

  tenant(id: string): Tenant | undefined {
    return this.#configTenants.get(id) ?? this.#adminTenants.get(id);
  }

  isConfigTenant(id: string): boolean {
    return this.#configTenants.has(id);
  }

  configTenants(): Tenant[] {
    return [...this.#configTenants.values()];
  }

  /** Enabled tenants and unrevoked keys known now (config file and database together): the start line. */
  loaded(): { tenants: number; keys: number } {
    return { tenants: this.#configTenants.size + this.#adminTenants.size, keys: this.#configKeys.size + this.#adminKeys.size };
  }
}

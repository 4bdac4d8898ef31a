import type { Logger } from 'pino';
import type { TenantConfig } from '../config/schema.js';
import type { Database, StoredKey, StoredTenant, TenantBudget, TenantLimits } from '../db/database.js';
import { hashesEqual, hashKey, keyIdForHash } from './keys.js';

export interface Tenant {
  id: string;
  projectId: string;
  limits?: TenantLimits;
  budget?: TenantBudget;
  /** Config tenants are read-only at run time (contract §3); admin ones live in the database. */
  source: 'config' | 'admin';
}

export interface Caller {
  tenant: Tenant;
  keyId: string;
}

interface KeyEntry {
  hash: string;
  keyId: string;
  tenantId: string;
}

function fromConfig(t: TenantConfig): Tenant {
  return { id: t.id, projectId: t.project, source: 'config', ...(t.limits ? { limits: t.limits } : {}), ...(t.budget ? { budget: t.budget } : {}) };
}

function fromDatabase(t: StoredTenant): Tenant {
  return { id: t.id, projectId: t.project, limits: t.limits, budget: t.budget, source: 'admin' };
}

/**
 * Who is calling. Config tenants are fixed at start; admin-made tenants and keys are reloaded
 * from the database every few seconds so every instance sees a change within 5 s (contract §3).
 * Lookups are one hash and one Map.get: no I/O on the request path.
 */
export class TenantRegistry {
  readonly #configTenants: ReadonlyMap<string, Tenant>;
  readonly #configKeys: ReadonlyMap<string, KeyEntry>;
  #adminTenants = new Map<string, Tenant>();
  #adminKeys = new Map<string, KeyEntry>();
  readonly #db: Database | undefined;
  readonly #logger: Logger | undefined;
  readonly #refreshIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { tenants: readonly TenantConfig[]; db?: Database; logger?: Logger; refreshIntervalMs?: number }) {
    this.#configTenants = new Map(opts.tenants.map((t) => [t.id, fromConfig(t)]));
    const keys = new Map<string, KeyEntry>();
    for (const t of opts.tenants) for (const hash of t.keys) keys.set(hash, { hash, keyId: keyIdForHash(hash), tenantId: t.id });
    this.#configKeys = keys;
    this.#db = opts.db;
    this.#logger = opts.logger;
    this.#refreshIntervalMs = opts.refreshIntervalMs ?? 2_000;
  }

  /** Loads admin tenants, then keeps them fresh in the background. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.#db && this.#refreshIntervalMs > 0) {
      this.#timer = setInterval(() => {
        this.refresh().catch((e: unknown) => this.#logger?.warn({ err: e }, 'tenant refresh failed; keeping the last known tenants'));
      }, this.#refreshIntervalMs);
      this.#timer.unref();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Re-reads admin tenants and keys; a failed read keeps the previous view. */
  async refresh(): Promise<void> {
    if (!this.#db) return;
    const { tenants, keys } = await this.#db.changesSince(0);
    const nextTenants = new Map<string, Tenant>();
    for (const t of tenants) if (!t.disabled && !this.#configTenants.has(t.id)) nextTenants.set(t.id, fromDatabase(t));
    const nextKeys = new Map<string, KeyEntry>();
    for (const k of keys as StoredKey[]) {
      if (k.revokedAtMs === null && nextTenants.has(k.tenantId)) nextKeys.set(k.hash, { hash: k.hash, keyId: k.keyId, tenantId: k.tenantId });
    }
    this.#adminTenants = nextTenants;
    this.#adminKeys = nextKeys;
  }

  /** The caller a presented key belongs to, or undefined for unknown and revoked keys. */
  authenticate(presentedKey: string): Caller | undefined {
    const hash = hashKey(presentedKey);
    const entry = this.#configKeys.get(hash) ?? this.#adminKeys.get(hash);
    // The Map finds the candidate; the final comparison is constant-time anyway.
    if (!entry || !hashesEqual(entry.hash, hash)) return undefined;
    const tenant = this.tenant(entry.tenantId);
    return tenant ? { tenant, keyId: entry.keyId } : undefined;
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
}

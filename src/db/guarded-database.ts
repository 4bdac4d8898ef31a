import type { Logger } from 'pino';
import type { AppliedMigrations, Database, NewKey, RecentUsageQuery, StoredKey, StoredTenant, TenantChanges, UsageQuery, UsageRow } from './database.js';
import { DatabaseUnavailableError, DuplicateError, NotFoundError } from './errors.js';
import { MIGRATIONS } from './migrations/index.js';
import type { UsageRecord } from '../usage/record.js';
import { delegateBatchStore, type BatchStore } from './batch-store.js';

const LATEST_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

/** SQLite's "no such table", PostgreSQL's undefined_table (42P01): the schema is gone. */
function isMissingSchema(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return err?.code === '42P01' || (typeof err?.message === 'string' && /no such table/i.test(err.message));
}

/**
 * The database as the gateway uses it. Two faults of the real world, handled in one place:
 *
 * - An outage (refused connection, dropped server, locked file) rejects with
 *   DatabaseUnavailableError, which every face renders as a 503, never a 500. The domain errors
 *   (DuplicateError, NotFoundError) pass through as they are.
 * - A database recreated empty (restored from nothing, dropped by mistake): the first operation
 *   that finds a table missing re-applies the migrations, once for all callers, and is retried;
 *   ping() checks the schema version, so /readyz does not pass a database every write would fail on.
 */
// The BatchStore methods (#16), each guarded like the rest, are put on by delegateBatchStore.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface GuardedDatabase extends BatchStore {}

export class GuardedDatabase implements Database {
  readonly #inner: Database;
  readonly #logger: Logger | undefined;
  #remigrating: Promise<void> | undefined;

  constructor(inner: Database, logger?: Logger) {
    this.#inner = inner;
    this.#logger = logger;
    delegateBatchStore(this, inner, (operation, call) => this.#guard(operation, call));
  }

  get kind(): Database['kind'] {
    return this.#inner.kind;
  }

  /** The database this one guards (tests, and the schema check). */
  get inner(): Database {
    return this.#inner;
  }

  migrate(): Promise<AppliedMigrations> {
    return this.#inner.migrate();
  }

  insertUsage(records: readonly UsageRecord[]): Promise<void> {
    return this.#guard('insertUsage', () => this.#inner.insertUsage(records));
  }

  queryUsage(q: UsageQuery): Promise<UsageRow[]> {
    return this.#guard('queryUsage', () => this.#inner.queryUsage(q));
  }

  recentUsage(q: RecentUsageQuery): Promise<UsageRecord[]> {
    return this.#guard('recentUsage', () => this.#inner.recentUsage(q));
  }

  usageByRequest(id: string): Promise<UsageRecord[]> {
    return this.#guard('usageByRequest', () => this.#inner.usageByRequest(id));
  }

  spendNanoUsd(tenantId: string, fromMs: number, toMs: number, keyId?: string): Promise<bigint> {
    return this.#guard('spendNanoUsd', () => this.#inner.spendNanoUsd(tenantId, fromMs, toMs, keyId));
  }

  createTenant(t: Omit<StoredTenant, 'createdAtMs' | 'updatedAtMs'>, nowMs: number): Promise<StoredTenant> {
    return this.#guard('createTenant', () => this.#inner.createTenant(t, nowMs));
  }

  getTenant(id: string): Promise<StoredTenant | undefined> {
    return this.#guard('getTenant', () => this.#inner.getTenant(id));
  }

  listTenants(): Promise<StoredTenant[]> {
    return this.#guard('listTenants', () => this.#inner.listTenants());
  }

  updateTenant(...args: Parameters<Database['updateTenant']>): ReturnType<Database['updateTenant']> {
    return this.#guard('updateTenant', () => this.#inner.updateTenant(...args));
  }

  deleteTenant(id: string, nowMs: number): Promise<boolean> {
    return this.#guard('deleteTenant', () => this.#inner.deleteTenant(id, nowMs));
  }

  createKey(k: NewKey): Promise<StoredKey> {
    return this.#guard('createKey', () => this.#inner.createKey(k));
  }

  updateKey(...args: Parameters<Database['updateKey']>): ReturnType<Database['updateKey']> {
    return this.#guard('updateKey', () => this.#inner.updateKey(...args));
  }

  revokeKey(tenantId: string, keyId: string, nowMs: number): Promise<boolean> {
    return this.#guard('revokeKey', () => this.#inner.revokeKey(tenantId, keyId, nowMs));
  }

  listKeys(tenantId: string): Promise<StoredKey[]> {
    return this.#guard('listKeys', () => this.#inner.listKeys(tenantId));
  }

  changesSince(sinceMs: number): Promise<TenantChanges> {
    return this.#guard('changesSince', () => this.#inner.changesSince(sinceMs));
  }

  /** Reachable and its schema current; a missing schema is re-made first (readiness, #10). */
  async ping(): Promise<void> {
    await this.#guard('ping', async () => {
      await this.#inner.ping();
      if ((await this.#inner.schemaVersion()) < LATEST_VERSION) await this.#remigrate('ping');
    });
  }

  schemaVersion(): Promise<number> {
    return this.#guard('schemaVersion', () => this.#inner.schemaVersion());
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async #guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof DuplicateError || e instanceof NotFoundError) throw e;
      if (isMissingSchema(e)) {
        try {
          await this.#remigrate(operation);
          return await run();
        } catch (again) {
          if (again instanceof DuplicateError || again instanceof NotFoundError) throw again;
          throw new DatabaseUnavailableError(operation, again);
        }
      }
      throw new DatabaseUnavailableError(operation, e);
    }
  }

  /** One re-migration at a time, shared by every caller that found the schema missing. */
  #remigrate(operation: string): Promise<void> {
    this.#remigrating ??= (async () => {
      this.#logger?.warn({ operation }, 'database schema missing (recreated empty?): applying migrations again');
      const applied = await this.#inner.migrate();
      this.#logger?.warn({ version: await this.#inner.schemaVersion(), applied: applied.map((m) => `${m.version} ${m.name}`) }, 'database schema restored');
    })().finally(() => {
      this.#remigrating = undefined;
    });
    return this.#remigrating;
  }
}

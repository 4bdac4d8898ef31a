import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { hashKey } from '../../src/tenants/keys.js';
import { TenantRegistry } from '../../src/tenants/registry.js';
import type { Clock } from '../../src/time/clock.js';

class ManualClock implements Clock {
  constructor(public ms: number) {}
  nowMs(): number {
    return this.ms;
  }
}

/** A database whose reads can be made to fail and whose changesSince calls are watched. */
function watched(db: Database) {
  const calls: number[] = [];
  let down = false;
  const proxy = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'changesSince') {
        return async (since: number) => {
          calls.push(since);
          if (down) throw new Error('connect ECONNREFUSED');
          return target.changesSince(since);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: proxy, calls, setDown: (v: boolean) => (down = v) };
}

const CONFIG_KEY = 'config-key';
const configTenants = [{ id: 'from-config', project: 'default', keys: [hashKey(CONFIG_KEY)] }];

let db: Database | undefined;
let registry: TenantRegistry | undefined;
afterEach(async () => {
  registry?.stop();
  await db?.close();
  db = undefined;
  registry = undefined;
});

async function setup(opts: { maxStaleMs?: number; refreshIntervalMs?: number } = {}) {
  db = await openDatabase({ sqlitePath: ':memory:' });
  await db.migrate();
  const clock = new ManualClock(1_000_000);
  const w = watched(db);
  registry = new TenantRegistry({ tenants: configTenants, db: w.db, clock, refreshIntervalMs: opts.refreshIntervalMs ?? 3_600_000, maxStaleMs: opts.maxStaleMs ?? 10_000 });
  await registry.start();
  return { clock, ...w, registry, db };
}

async function addTenantWithKey(d: Database, id: string, key: string, nowMs: number) {
  await d.createTenant({ id, project: 'default', limits: {}, budget: {}, disabled: false }, nowMs);
  return d.createKey({ keyId: `key_${id}`, tenantId: id, hash: hashKey(key), name: null, createdAtMs: nowMs });
}

describe('tenant registry', () => {
  it('knows config keys and admin-made keys, and forgets revoked keys and disabled or deleted tenants', async () => {
    const { registry: r, db: d, clock } = await setup();
    expect(r.authenticate(CONFIG_KEY)?.tenant.id).toBe('from-config');
    expect(r.authenticate('nope')).toBeUndefined();

    await addTenantWithKey(d, 'team-a', 'key-a', clock.ms);
    await addTenantWithKey(d, 'team-b', 'key-b', clock.ms);
    await r.refresh();
    expect(r.authenticate('key-a')).toMatchObject({ tenant: { id: 'team-a', source: 'admin' }, keyId: 'key_team-a' });

    clock.ms += 1_000;
    await d.revokeKey('team-a', 'key_team-a', clock.ms);
    await d.updateTenant('team-b', { disabled: true }, clock.ms);
    await r.refresh();
    expect(r.authenticate('key-a')).toBeUndefined();
    expect(r.authenticate('key-b')).toBeUndefined();

    // Re-enabled: its key, never revoked, works again though the key itself did not change.
    clock.ms += 1_000;
    await d.updateTenant('team-b', { disabled: false }, clock.ms);
    await r.refresh();
    expect(r.authenticate('key-b')?.tenant.id).toBe('team-b');

    clock.ms += 1_000;
    await d.deleteTenant('team-b', clock.ms);
    await r.refresh();
    expect(r.authenticate('key-b')).toBeUndefined();
    expect(r.tenant('team-b')).toBeUndefined();
  });

  it('reads only what changed since its last look after the first, full read', async () => {
    const { registry: r, db: d, clock, calls } = await setup();
    expect(calls).toEqual([0]);
    for (let i = 0; i < 3; i++) {
      clock.ms += 5_000;
      await addTenantWithKey(d, `t${i}`, `k${i}`, clock.ms);
      await r.refresh();
    }
    // Each read starts a little before the previous one began (clock skew between instances).
    expect(calls.slice(1).every((since) => since > 0)).toBe(true);
    expect(calls[2]! - calls[1]!).toBe(5_000);
    for (let i = 0; i < 3; i++) expect(r.authenticate(`k${i}`)?.tenant.id).toBe(`t${i}`);
  });

  it('refuses admin-made keys with 503 once the database has been unreachable for longer than maxStaleMs, and recovers', async () => {
    const { registry: r, db: d, clock, setDown } = await setup({ maxStaleMs: 10_000 });
    await addTenantWithKey(d, 'team-a', 'key-a', clock.ms);
    await r.refresh();
    setDown(true);
    clock.ms += 5_000;
    await expect(r.refresh()).rejects.toThrow('ECONNREFUSED');
    // Within the bound the last view is trusted ...
    expect(r.authenticate('key-a')?.tenant.id).toBe('team-a');
    clock.ms += 6_000;
    await expect(r.refresh()).rejects.toThrow();
    // ... past it, an admin key may have been revoked meanwhile: refused, as a 503.
    const refused = (() => {
      try {
        r.authenticate('key-a');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(GatewayError);
    expect((refused as GatewayError).code).toBe('STORE_UNAVAILABLE');
    // Config keys do not depend on the database.
    expect(r.authenticate(CONFIG_KEY)?.tenant.id).toBe('from-config');
    setDown(false);
    await r.refresh();
    expect(r.authenticate('key-a')?.tenant.id).toBe('team-a');
  });

  it('keeps a refresh asked for during another one, so an admin change is seen when it returns', async () => {
    const { registry: r, db: d, clock } = await setup();
    const first = r.refresh();
    await addTenantWithKey(d, 'late', 'late-key', clock.ms);
    const second = r.refresh();
    await Promise.all([first, second]);
    expect(r.authenticate('late-key')?.tenant.id).toBe('late');
  });
});

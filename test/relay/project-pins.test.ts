/**
 * Multi-turn stays on one project (#17.5), through GeminiRelay with its real collaborators: a
 * pool of two projects (their Google keys told apart by the mock, which refuses another
 * project's signature as Google does), the in-memory store for quota and pins, a manual clock.
 */
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { Content, GenerateContentRequest, Part } from '../../src/gemini/types.js';
import { loadModelTable } from '../../src/models/model-table.js';
import { MemoryQuotaStore } from '../../src/quota/memory-store.js';
import { QuotaService } from '../../src/quota/quota-service.js';
import type { QuotaStore, SignaturePins } from '../../src/quota/store.js';
import { GeminiRelay, newCallTally, type CallRequest, type PoolRuntime, type ProjectRuntime, type StartedCall } from '../../src/relay/gemini-relay.js';
import { filePin, signatureDigest, signatureDigests, signaturePin } from '../../src/relay/project-affinity.js';
import type { Caller } from '../../src/tenants/registry.js';
import { ManualClock } from '../../src/time/clock.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { BudgetService } from '../../src/usage/budget.js';
import { UsageLedger } from '../../src/usage/ledger.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { PROMPT, readAll, relayCall } from '../support/relay-calls.js';

const KEY_A = 'pins-google-key-a';
const KEY_B = 'pins-google-key-b';
const PRO = loadModelTable().byId.get('gemini-3-pro-image')!;

let mock: MockGoogle;
let db: Database;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [KEY_A, KEY_B] });
  db = await openDatabase({ sqlitePath: ':memory:' });
  await db.migrate();
});
afterAll(async () => {
  await db?.close();
  await mock?.close();
});
beforeEach(() => mock.reset());

const upstreams: UpstreamClient[] = [];
afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

const project = (id: string, apiKey: string, rpm = 100): ProjectRuntime => ({ id, apiKey, tier: 'tier1', limits: { [PRO.id]: { rpm } }, pool: 'studios' });

interface Rig {
  relay: GeminiRelay;
  clock: ManualClock;
  store: QuotaStore;
  readonly lookups: number;
  a: ProjectRuntime;
  b: ProjectRuntime;
}

/** A pool of a and b, tried in `order`; pins counted as they are looked up. */
function rig(opts: { order: 'ab' | 'ba'; rpmA?: number; rpmB?: number }): Rig {
  const clock = new ManualClock('2026-11-27T18:00:00Z');
  const store = new MemoryQuotaStore();
  const logger = pino({ level: 'silent' });
  const ledger = new UsageLedger({ db, logger, timers: { setTimeout: () => 0, clearTimeout: () => {} } });
  const upstream = new UpstreamClient({ baseUrl: mock.url, timeoutMs: 5_000, retries: 0 });
  upstreams.push(upstream);
  const a = project('a', KEY_A, opts.rpmA);
  const b = project('b', KEY_B, opts.rpmB);
  const members = (opts.order === 'ab' ? [a, b] : [b, a]).map((p) => ({ project: p, weight: 1 }));
  const pool: PoolRuntime = { id: 'studios', strategy: 'order', members, signatureTtlMs: 3_600_000 };
  let lookups = 0;
  const pins: SignaturePins = {
    pinSignatures: (cmd) => store.pinSignatures(cmd),
    signaturePins: (query) => {
      lookups++;
      return store.signaturePins(query);
    },
  };
  const relay = new GeminiRelay({
    upstream,
    quota: new QuotaService({ store, logger }),
    budgets: new BudgetService({ store, logger, loadSpendNanoUsd: async () => 0n }),
    ledger,
    clock,
    logger,
    pools: new Map([[pool.id, pool]]),
    pins,
  });
  return {
    relay,
    clock,
    store,
    a,
    b,
    get lookups() {
      return lookups;
    },
  };
}

const pooled: Caller = { tenant: { id: 'design', projectId: 'a', poolId: 'studios', source: 'config' }, keyId: 'key_abc123' };

function call(r: Rig, body: GenerateContentRequest = PROMPT, over: Partial<CallRequest> = {}): CallRequest {
  return relayCall({ requestId: 'req_pins', caller: pooled, project: r.a, model: PRO }, { tally: newCallTally(), ...over }, body);
}

/** The answer read to its end (metered, its signatures remembered), and the model turn it makes. */
async function turn(started: StartedCall): Promise<Content> {
  if (!started.ok) throw new Error(`expected an answer, got ${started.status}: ${started.body.toString()}`);
  const answer = JSON.parse((await readAll(started.body)).toString()) as { candidates: Array<{ content: { parts: Part[] } }> };
  await started.outcome;
  return { role: 'model', parts: answer.candidates[0]!.content.parts.filter((p) => !p.thought) };
}

const conversation = (model: Content): GenerateContentRequest => ({
  contents: [{ role: 'user', parts: [{ text: 'A red car' }] }, model, { role: 'user', parts: [{ text: 'Make it blue' }] }],
});

async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(e)}`);
  return e;
}

const keysCalled = () => mock.received.filter((x) => x.path.includes(':generateContent')).map((x) => x.headers['x-goog-api-key']);

describe('a thought signature takes the next turn back to the project that made it', () => {
  it("goes back to that project although the pool's order now prefers the other", async () => {
    const r = rig({ order: 'ba', rpmB: 1 });
    await turn(await r.relay.start(call(r)));
    // b is full for a minute: the first turn goes to a, and a signs it.
    const model = await turn(await r.relay.start(call(r)));
    expect(mock.answered[1]!.thoughtSignatures).toHaveLength(2);
    r.clock.advance(60_000);
    const req = call(r, conversation(model));
    const second = await r.relay.start(req);
    expect(second.status).toBe(200);
    expect(second.admission.projectId).toBe('a');
    expect(req.tally!.pin).toEqual({ projectId: 'a', by: 'signature' });
    await turn(second);
    expect(keysCalled()).toEqual([KEY_B, KEY_A, KEY_A]);
    // Without the pin, b (first again) would have had Google refuse a's signature.
    const unpinned = await r.relay.start({ ...call(r, conversation(model)), estimate: { ...call(r).estimate } });
    expect(unpinned.status).toBe(400);
    await unpinned.outcome;
  });

  it("refuses with that project's retry time when it has no room, and never sends it elsewhere", async () => {
    const r = rig({ order: 'ab', rpmA: 1 });
    const model = await turn(await r.relay.start(call(r)));
    r.clock.advance(10_000);
    const refused = await refusal(r.relay.start(call(r, conversation(model))));
    expect(refused.code).toBe('QUOTA_EXHAUSTED');
    expect(refused.details.quota).toMatchObject({ projectId: 'a', dimension: 'rpm', retryAfterMs: 50_000 });
    // A call carrying nothing of a's still spills over to b.
    expect((await r.relay.start(call(r))).admission.projectId).toBe('b');
    expect(keysCalled()).toEqual([KEY_A, KEY_B]);
  });

  it("relays Google's 429 on that project rather than spilling the turn to the other", async () => {
    const r = rig({ order: 'ab' });
    const model = await turn(await r.relay.start(call(r)));
    mock.setKeyFault(KEY_A, { kind: 'rateLimit', retryDelay: '30s' });
    const limited = await r.relay.start(call(r, conversation(model)));
    expect(limited.status).toBe(429);
    await limited.outcome;
    expect(keysCalled()).toEqual([KEY_A, KEY_A]);
    // a cools down: the next turn is refused with a's cool-down, not sent to b.
    const cooling = await refusal(r.relay.start(call(r, conversation(model))));
    expect(cooling.details.quota).toMatchObject({ projectId: 'a', dimension: 'cooldown', retryAfterMs: 30_000 });
  });

  it("lets signatures it does not know pin nothing: the pool's order decides", async () => {
    const r = rig({ order: 'ba' });
    const model: Content = { role: 'model', parts: [{ text: 'hi', thoughtSignature: 'bm90LWEtc2lnbmF0dXJl' }] };
    expect((await r.relay.start(call(r, conversation(model)))).admission.projectId).toBe('b');
    expect(r.lookups).toBe(1);
  });

  it('refuses a signature made by a project no longer in the pool, saying so', async () => {
    const r = rig({ order: 'ab' });
    const signature = 'bWFkZS1ieS1nb25l';
    await r.store.pinSignatures({ poolId: 'studios', digests: [signatureDigest(signature)], projectId: 'gone', untilMs: r.clock.nowMs() + 1_000, nowMs: r.clock.nowMs() });
    const refused = await refusal(r.relay.start(call(r, conversation({ role: 'model', parts: [{ text: 'hi', thoughtSignature: signature }] }))));
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).toMatch(/made by project gone, which your calls no longer go to \(they go to pool studios\)/);
    expect(keysCalled()).toEqual([]);
  });
});

describe('a file keeps its call on the project it was uploaded to', () => {
  it('goes to the file’s project whatever the order, without looking up the signatures beside it', async () => {
    const r = rig({ order: 'ba' });
    const req = call(r, PROMPT, { files: [{ name: 'files/x', projectId: 'a' }], estimate: { ...call(r).estimate, signatures: ['c2ln'] } });
    const started = await r.relay.start(req);
    expect(started.admission.projectId).toBe('a');
    expect(req.tally!.pin).toEqual({ projectId: 'a', by: 'file' });
    expect(r.lookups).toBe(0);
    await turn(started);
  });

  it('refuses a file of a project the tenant no longer reaches, and files of two projects, before anything is counted', async () => {
    const r = rig({ order: 'ab' });
    const away = await refusal(r.relay.start(call(r, PROMPT, { files: [{ name: 'files/x', projectId: 'elsewhere' }] })));
    expect(away.code).toBe('INVALID_ARGUMENT');
    expect(away.message).toMatch(/^files\/x was uploaded to project elsewhere, which your calls no longer go to \(they go to pool studios\)/);
    const two = await refusal(r.relay.start(call(r, PROMPT, { files: [{ name: 'files/x', projectId: 'a' }, { name: 'files/y', projectId: 'b' }] })));
    expect(two.message).toMatch(/files of two Google projects \(files\/x in a, files\/y in b\)/);
    // A single-project tenant: a file of another project is refused the same way.
    const single: Caller = { tenant: { id: 'solo', projectId: 'b', source: 'config' }, keyId: 'key_solo' };
    const solo = await refusal(r.relay.start(relayCall({ requestId: 'req_solo', caller: single, project: r.b, model: PRO }, { files: [{ name: 'files/x', projectId: 'a' }] })));
    expect(solo.message).toMatch(/they go to project b\)/);
    expect(keysCalled()).toEqual([]);
    expect((await r.store.projectUsage('a', PRO.id, r.clock.nowMs(), '2026-11-27', 'studios')).rpm).toBe(0);
  });
});

describe('what pinning costs a call that needs none', () => {
  it('looks nothing up for a request without signatures, nor for a tenant of one project, and remembers nothing outside a pool', async () => {
    const r = rig({ order: 'ab' });
    await turn(await r.relay.start(call(r)));
    const single: Caller = { tenant: { id: 'solo', projectId: 'b', source: 'config' }, keyId: 'key_solo' };
    const solo = (body: GenerateContentRequest) => relayCall({ requestId: 'req_solo', caller: single, project: r.b, model: PRO }, {}, body);
    const model = await turn(await r.relay.start(solo(PROMPT)));
    await turn(await r.relay.start(solo(conversation(model))));
    expect(r.lookups).toBe(0);
    // b's signatures, made outside the pool, were not remembered as b's: a pooled turn with them goes by the order.
    expect((await r.relay.start(call(r, conversation(model)))).status).toBe(400);
    expect(r.lookups).toBe(1);
  });
});

describe('project-affinity: the pin rules', () => {
  it('digests a signature into 22 base64url characters, the same each time, and lists digests latest last', () => {
    expect(signatureDigest('abc')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(signatureDigest('abc')).toBe(signatureDigest('abc'));
    expect(signatureDigest('abc')).not.toBe(signatureDigest('abd'));
    expect(signatureDigests(['x', 'y', 'x'])).toEqual([signatureDigest('y'), signatureDigest('x')]);
  });

  it.each([
    [[], undefined],
    [[undefined, undefined], undefined],
    [['p1', undefined], { projectId: 'p1', by: 'signature' }],
    [['p1', 'p2', undefined], { projectId: 'p2', by: 'signature' }],
  ] as const)('signatures pinned to %j pin the call to %j', (projects, pin) => {
    expect(signaturePin(projects)).toEqual(pin);
  });

  it('pins to the files’ one project, or refuses files of two', () => {
    expect(filePin([])).toBeUndefined();
    expect(filePin([{ name: 'files/x', projectId: 'p' }, { name: 'files/y', projectId: 'p' }])).toEqual({ projectId: 'p', by: 'file' });
    expect(() => filePin([{ name: 'files/x', projectId: 'p' }, { name: 'files/y', projectId: 'q' }])).toThrow(GatewayError);
  });
});

/**
 * The hostile-input suite's harness and oracle: a gateway (in-process, on 127.0.0.1) against
 * the mock Google, a raw-socket sender, and the checks every hostile request must pass
 * whatever it was (contract §11, issue #10):
 *
 * - an answer came back, never a 5xx (unless an upstream failure was scripted);
 * - an error answer is JSON in the route's shape (Google's envelope, OpenAI's, or the admin
 *   API's; any of the three where the route cannot be known, such as an unparseable request line);
 * - no stack trace or internal path in the body, no tenant key, Google key or admin token in the
 *   body or headers, nor in any log line;
 * - a request the gateway refused reached Google not at all; one it forwarded carried the
 *   project's Google key, never the tenant's, to a canonical model path;
 * - the gateway still answers /healthz after each batch.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { hashKey } from '../../src/tenants/keys.js';
import { startMockGoogle, type MockGoogle, type ReceivedRequest } from '../mock-google/server.js';
import { ADMIN_TOKEN, GOOGLE_KEY, OTHER_TENANT_KEY, TENANT_KEY, startGateway, type RunningGateway } from './gateway-harness.js';
import { header, requestBytes, sendRaw, showBytes, SourceAddresses, type RawResponse, type RawSendOptions, type RequestSpec } from './hostile-http.js';

/** Small, so "just over the limit" costs a few hundred KB per case (contract §2 server.bodyLimitBytes). */
export const BODY_LIMIT = 256 * 1024;

/** Aliases the suites use; their canonical ids get limits no fuzz run can exhaust. */
export const NATIVE_MODEL = 'nano-banana';
export const EDITS_MODEL = 'nano-banana-2';
const ROOMY = '{ rpm: 1000000, tpm: 1000000000, rpd: 100000000, ipm: 1000000 }';

/** `serverYaml`: more keys for the `server:` section (timeouts). */
export function hostileConfigYaml(serverYaml = ''): string {
  return `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
defaultModel: ${NATIVE_MODEL}
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
    limits:
      gemini-3.1-flash-lite-image: ${ROOMY}
      gemini-nano-banana-2.1: ${ROOMY}
      gemini-3-pro-image: ${ROOMY}
tenants:
  - id: design
    project: default
    keys: ["${hashKey(TENANT_KEY)}"]
  - id: marketing
    project: default
    keys: ["${hashKey(OTHER_TENANT_KEY)}"]
database: { path: $DB_PATH }
server: { bodyLimitBytes: ${BODY_LIMIT}${serverYaml ? `, ${serverYaml}` : ''} }
`;
}

export type Face = 'google' | 'openai' | 'admin';

export interface Expectation {
  /** The shape an error answer must have; 'any': one of the gateway's three. */
  face: Face | 'any';
  /** The statuses allowed (default: any below 500). */
  statuses?: readonly number[];
  /** 'none': nothing may reach Google, whatever the answer (default: only refusals may not). */
  upstream?: 'none' | 'allowed';
  /** What a forwarded native body must be, byte for byte (contract §5). */
  forwardedBody?: Buffer;
  /** The server may close the connection without an answer (CONNECT, a body the client cut off). */
  noAnswerOk?: boolean;
  /** The server may still be waiting when the client gives up (a body that never arrives in full). */
  waitingOk?: boolean;
  /** A failure of Google's was scripted for this request: a 5xx is allowed, and so is having reached Google. */
  upstreamFailure?: boolean;
}

export interface Outcome {
  bytes: Buffer;
  res: RawResponse;
  /** What reached the mock Google while this request was answered. */
  forwarded: ReceivedRequest[];
}

const SECRETS: ReadonlyArray<[label: string, value: string]> = [
  ['tenant key', TENANT_KEY],
  ['other tenant key', OTHER_TENANT_KEY],
  ['Google key', GOOGLE_KEY],
  ['admin token', ADMIN_TOKEN],
  ['tenant key hash', hashKey(TENANT_KEY).slice('sha256:'.length)],
];

/** Traces of the gateway's insides: a stack frame, a source path, a module path. */
const INTERNALS: ReadonlyArray<[label: string, pattern: RegExp]> = [
  ['stack frame', /\bat (?:async )?[\w$.<>[\]]+ \((?:file:|node:|\/)[^)]*:\d+(?::\d+)?\)/],
  ['stack frame', /\bat (?:file:\/\/|node:|\/)\S+:\d+:\d+/],
  ['stack frame', /\n\s+at \S/],
  ['stack frame', /\\n\s+at \S/], // one inside a JSON string
  ['internal path', /\/work\//],
  ['internal path', /node_modules/],
  ['source file', /\.ts:\d/],
  ['source file', /\/(?:src|dist)\/[\w/-]+\.[jt]s\b/],
];

const GOOGLE_STATUSES = new Set([
  'INVALID_ARGUMENT', 'FAILED_PRECONDITION', 'OUT_OF_RANGE', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'ABORTED',
  'ALREADY_EXISTS', 'RESOURCE_EXHAUSTED', 'CANCELLED', 'DATA_LOSS', 'UNKNOWN', 'INTERNAL', 'UNIMPLEMENTED', 'UNAVAILABLE', 'DEADLINE_EXCEEDED',
]);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const extraKeys = (o: Json, allowed: readonly string[]) => Object.keys(o).filter((k) => !allowed.includes(k));

/** Why `body` is not `face`'s error shape for an answer of `status`; undefined when it is. */
export function shapeProblem(face: Face, body: unknown, status: number): string | undefined {
  if (!isObject(body) || Object.keys(body).length !== 1 || !isObject(body['error'])) return 'not {"error":{...}}';
  const e = body['error'];
  switch (face) {
    case 'google': {
      const extra = extraKeys(e, ['code', 'message', 'status', 'details']);
      if (extra.length) return `Google envelope with extra keys ${extra.join(',')}`;
      if (e['code'] !== status) return `Google envelope code ${JSON.stringify(e['code'])} is not the HTTP status ${status}`;
      if (typeof e['message'] !== 'string' || e['message'] === '') return 'Google envelope without a message';
      if (typeof e['status'] !== 'string' || !GOOGLE_STATUSES.has(e['status'])) return `Google envelope status ${JSON.stringify(e['status'])}`;
      if (e['details'] !== undefined && !Array.isArray(e['details'])) return 'Google envelope details is not a list';
      return undefined;
    }
    case 'openai': {
      const keys = Object.keys(e).sort().join(',');
      if (keys !== 'code,message,param,type') return `OpenAI error with keys ${keys} (want message, type, param, code)`;
      if (typeof e['message'] !== 'string' || e['message'] === '') return 'OpenAI error without a message';
      if (typeof e['type'] !== 'string' || e['type'] === '') return 'OpenAI error without a type';
      if (e['param'] !== null && typeof e['param'] !== 'string') return 'OpenAI error param neither string nor null';
      if (e['code'] !== null && typeof e['code'] !== 'string') return 'OpenAI error code neither string nor null';
      return undefined;
    }
    case 'admin': {
      const extra = extraKeys(e, ['code', 'message', 'param']);
      if (extra.length) return `admin error with extra keys ${extra.join(',')}`;
      if (typeof e['code'] !== 'string' || !/^[a-z][a-z0-9_]*$/.test(e['code'])) return `admin error code ${JSON.stringify(e['code'])}`;
      if (typeof e['message'] !== 'string' || e['message'] === '') return 'admin error without a message';
      if (e['param'] !== undefined && typeof e['param'] !== 'string') return 'admin error param is not a string';
      return undefined;
    }
  }
}

const CANONICAL_UPSTREAM_PATH = /^\/(v1beta|v1)\/models\/[a-z0-9][a-z0-9.-]*:(generateContent|streamGenerateContent|countTokens)$/;

export interface SuiteOptions {
  /** Names the stats file and log lines. */
  name: string;
  /** Second octet of the 127.x.y.z source addresses this suite uses (one per file). */
  addressBlock: number;
  /** null: ADMIN_TOKEN unset, /admin disabled. Default: the harness's ADMIN_TOKEN. */
  adminToken?: string | null;
  /** Requests per source address before moving on (failed-auth throttling is per address). */
  perAddress?: number;
  /** More keys for the config's `server:` section, e.g. `headersTimeoutMs: 1000`. */
  serverYaml?: string;
}

export class HostileSuite {
  readonly statuses = new Map<string, number>();
  cases = 0;
  #logsChecked = 0;
  /** How many of the mock's received requests some probe has seen arrive. */
  #receivedSeen = 0;
  readonly #startedMs = performance.now();

  private constructor(
    readonly name: string,
    readonly mock: MockGoogle,
    readonly gw: RunningGateway,
    readonly port: number,
    readonly addresses: SourceAddresses,
  ) {}

  static async start(opts: SuiteOptions): Promise<HostileSuite> {
    const mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
    const gw = await startGateway({ upstreamUrl: mock.url, configYaml: hostileConfigYaml(opts.serverYaml), adminToken: opts.adminToken === undefined ? ADMIN_TOKEN : opts.adminToken });
    const port = Number(new URL(gw.url).port);
    return new HostileSuite(opts.name, mock, gw, port, new SourceAddresses(opts.addressBlock, opts.perAddress ?? 10));
  }

  /** Sends one request (a spec, or raw bytes as they are) and notes what reached Google meanwhile. */
  async send(request: RequestSpec | Buffer | ReadonlyArray<Buffer>, opts: Partial<RawSendOptions> = {}): Promise<Outcome> {
    const chunks = Buffer.isBuffer(request) ? [request] : Array.isArray(request) ? (request as Buffer[]) : [requestBytes(request as RequestSpec)];
    const before = this.mock.received.length;
    const res = await sendRaw(chunks, { port: this.port, localAddress: this.addresses.next(), timeoutMs: 5_000, ...opts });
    const forwarded = this.mock.received.slice(before);
    this.#receivedSeen = Math.max(this.#receivedSeen, this.mock.received.length);
    this.cases++;
    const key = res.status ? String(res.status) : res.timedOut ? 'no answer (timeout)' : 'no answer (closed)';
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    return { bytes: Buffer.concat(chunks), res, forwarded };
  }

  /** Every way `outcome` breaks the suite's rules or `exp`; empty when it passes. */
  check(outcome: Outcome, exp: Expectation): string[] {
    const { res, forwarded, bytes } = outcome;
    const problems: string[] = [];
    const sent = bytes.toString('latin1');
    if (res.status === 0) {
      if (res.timedOut ? !exp.waitingOk : !exp.noAnswerOk) {
        problems.push(res.timedOut ? 'no answer within the wait (the gateway kept waiting)' : `connection closed without an answer${res.socketError ? ` (${res.socketError})` : ''}`);
      }
    } else {
      if (res.status >= 500 && !exp.upstreamFailure) problems.push(`answered ${res.status}: bad input must never yield a 5xx`);
      if (exp.statuses && !exp.statuses.includes(res.status)) problems.push(`answered ${res.status}, expected ${exp.statuses.join(' or ')}`);
      // A HEAD answer has no body to judge.
      if (res.status >= 400 && !sent.startsWith('HEAD ')) {
        const contentType = header(res, 'content-type') ?? '';
        let parsed: unknown;
        try {
          parsed = JSON.parse(res.body.toString('utf8'));
        } catch {
          parsed = undefined;
        }
        if (parsed === undefined) {
          problems.push(`error body is not JSON (content-type ${contentType || 'none'})`);
        } else {
          if (!/^application\/json\b/i.test(contentType)) problems.push(`error content-type is ${contentType || 'missing'}`);
          const faces: Face[] = exp.face === 'any' ? ['google', 'openai', 'admin'] : [exp.face];
          const why = faces.map((f) => shapeProblem(f, parsed, res.status));
          if (why.every((w) => w !== undefined)) problems.push(`error body not in ${exp.face === 'any' ? "any of the gateway's shapes" : `the ${exp.face} shape`}: ${[...new Set(why)].join('; ')}`);
        }
      }
    }
    const answer = res.raw.toString('latin1');
    for (const [label, secret] of SECRETS) if (answer.includes(secret)) problems.push(`the ${label} appears in the answer`);
    const body = res.body.toString('latin1');
    for (const [label, pattern] of INTERNALS) if (pattern.test(body) && !pattern.test(sent)) problems.push(`a ${label} appears in the body (${pattern.exec(body)?.[0]})`);

    const refused = res.status === 0 || (res.status >= 400 && res.status !== 400) || (res.status === 400 && exp.upstream === 'none');
    if (forwarded.length > 0 && !exp.upstreamFailure && (refused || exp.upstream === 'none')) {
      problems.push(`${forwarded.length} request(s) reached Google for a request the gateway refused: ${forwarded.map((f) => `${f.method} ${f.path}`).join(', ')}`);
    }
    for (const f of forwarded) {
      if (!CANONICAL_UPSTREAM_PATH.test(f.path)) problems.push(`Google was sent to a non-canonical path ${JSON.stringify(f.path)}`);
      if (f.headers['x-goog-api-key'] !== GOOGLE_KEY) problems.push("Google did not receive the project's key in x-goog-api-key");
      if (f.headers['authorization'] !== undefined) problems.push('an Authorization header reached Google');
      if (f.query['key'] !== undefined) problems.push('a key query parameter reached Google');
      for (const [name, value] of Object.entries(f.headers)) {
        if (name === 'x-goog-api-key' || value === undefined) continue;
        for (const [label, secret] of SECRETS) if (value.includes(secret)) problems.push(`the ${label} reached Google in ${name}`);
      }
      if (exp.forwardedBody && f.path.endsWith('Content') && !f.body.equals(exp.forwardedBody)) {
        problems.push(`the body reached Google altered (${f.body.length} bytes, sent ${exp.forwardedBody.length}): ${showBytes(f.body, 200)}`);
      }
    }
    return problems;
  }

  /** Sends and checks; returns the failure report (empty on success). */
  async probe(label: string, request: RequestSpec | Buffer | ReadonlyArray<Buffer>, exp: Expectation, opts: Partial<RawSendOptions> = {}): Promise<string[]> {
    const outcome = await this.send(request, opts);
    const problems = this.check(outcome, exp);
    return problems.length === 0 ? [] : [describeFailure(label, outcome, problems)];
  }

  /** Log lines written since the last call that carry a key or token. */
  logLeaks(): string[] {
    const lines = this.gw.logs.slice(this.#logsChecked);
    this.#logsChecked = this.gw.logs.length;
    const leaks: string[] = [];
    for (const line of lines) {
      for (const [label, secret] of SECRETS) if (line.includes(secret)) leaks.push(`the ${label} appears in a log line: ${line.slice(0, 400)}`);
    }
    return leaks;
  }

  /** The batch's closing checks: the gateway answers /healthz, and no log line leaked a secret. */
  async afterBatch(): Promise<string[]> {
    const problems = this.logLeaks();
    // A request that reached Google only after its client had its answer (or gave up) was seen by no probe.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const late = this.mock.received.slice(this.#receivedSeen);
    if (late.length > 0) problems.push(`${late.length} request(s) reached Google after their client was answered or gone: ${late.map((f) => `${f.method} ${f.path} (${f.body.length} bytes)`).join(', ')}`);
    // Start the next batch from an empty record: thousands of forwarded bodies add up.
    this.mock.received.length = 0;
    this.#receivedSeen = 0;
    const res = await sendRaw(requestBytes({ method: 'GET', target: '/healthz' }), { port: this.port, timeoutMs: 5_000 });
    if (res.status !== 200 || !/"status"\s*:\s*"ok"/.test(res.body.toString())) problems.push(`/healthz answered ${res.status || 'nothing'} after the batch: ${res.body.toString().slice(0, 200)}`);
    return problems;
  }

  summary(): string {
    const ms = Math.round(performance.now() - this.#startedMs);
    const histogram = [...this.statuses.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}: ${n}`).join(', ');
    return `[hostile:${this.name}] ${this.cases} requests in ${ms} ms; statuses ${histogram}`;
  }

  async close(): Promise<void> {
    const dir = join(tmpdir(), 'nanogate-hostile-stats');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${this.name}.json`), JSON.stringify({ name: this.name, cases: this.cases, ms: Math.round(performance.now() - this.#startedMs), statuses: Object.fromEntries(this.statuses) }));
    console.log(this.summary());
    await this.gw.close();
    await this.mock.close();
  }
}

export function describeFailure(label: string, outcome: Outcome, problems: readonly string[]): string {
  const { res, bytes } = outcome;
  const answer = res.status ? `${res.statusLine} ${showBytes(res.body, 400)}` : res.timedOut ? '(no answer within the wait)' : `(connection closed${res.socketError ? `: ${res.socketError}` : ''})`;
  return `${label}\n    request: ${showBytes(bytes)}\n    answer:  ${answer}\n    - ${problems.join('\n    - ')}`;
}

/** Runs a table of probes to the end and fails once, listing every failing row (up to `show`). */
export function failIfAny(failures: readonly string[], show = 12): void {
  if (failures.length === 0) return;
  const shown = failures.slice(0, show).join('\n\n');
  throw new Error(`${failures.length} hostile case(s) failed${failures.length > show ? ` (first ${show} shown)` : ''}:\n\n${shown}`);
}

/**
 * Runs `probe` over `items`, `concurrency` at a time, and collects the failure reports. For
 * probes that may each wait out a timeout when the gateway misbehaves (a body it waits for):
 * a failing run then costs a few timeouts, not one per case.
 */
export async function probeAll<T>(items: readonly T[], concurrency: number, probe: (item: T) => Promise<string[]>): Promise<string[]> {
  const failures: string[] = [];
  for (let at = 0; at < items.length; at += concurrency) {
    const batch = await Promise.all(items.slice(at, at + concurrency).map(probe));
    failures.push(...batch.flat());
  }
  return failures;
}

export interface FuzzParams {
  seed: number;
  numRuns: number;
  /** Stops the run (a failure) after this long: a misbehaving gateway that makes every case wait must not stall the suite. */
  timeLimitMs?: number;
}

/**
 * A fast-check property over generated cases: `run` returns the failure report for one case
 * (empty when it passes). Shrinks to a small failing case and reports it with the seed.
 */
export async function fuzz<T>(arb: fc.Arbitrary<T>, params: FuzzParams, run: (value: T) => Promise<string[]>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      const failures = await run(value);
      if (failures.length > 0) throw new Error(failures.join('\n\n'));
    }),
    { seed: params.seed, numRuns: params.numRuns, interruptAfterTimeLimit: params.timeLimitMs ?? 20_000, markInterruptAsFailure: true },
  );
}

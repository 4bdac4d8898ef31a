import { STATUS_CODES, type ServerOptions } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/schema.js';
import type { Database } from './db/database.js';
import { GatewayError } from './errors/gateway-error.js';
import { installErrorHandler, sendError } from './faces/error-handling.js';
import type { FaceDeps } from './faces/face-deps.js';
import { nativeFace } from './faces/native/plugin.js';
import { renderGoogleError } from './faces/native/errors.js';
import { openaiFace } from './faces/openai/plugin.js';
import { renderOpenAIError } from './faces/openai/errors.js';
import { adminRoutes } from './admin/plugin.js';
import { consoleRoutes } from './admin/console/plugin.js';
import { ConsoleSessions } from './admin/console/session.js';
import { renderAdminError } from './admin/errors.js';
import { corsPolicy } from './http/cors-policy.js';
import './http/request-context.js';
import { ModelFindings } from './models/model-findings.js';
import type { ModelResolver } from './models/resolver.js';
import type { GatewayMetrics } from './ops/metrics.js';
import { opsRoutes } from './ops/plugin.js';
import type { QuotaService } from './quota/quota-service.js';
import { randomHex } from './random/pool.js';
import type { QuotaStore } from './quota/store.js';
import { GeminiRelay, type PoolRuntime, type ProjectRuntime } from './relay/gemini-relay.js';
import { ProjectRefusals } from './relay/project-refusals.js';
import type { ProjectRefusal } from './gemini/errors.js';
import { createAuthFailureLimiter } from './tenants/auth-hook.js';
import type { TenantRegistry } from './tenants/registry.js';
import type { Clock } from './time/clock.js';
import type { UpstreamClient } from './upstream/client.js';
import type { BudgetService } from './usage/budget.js';
import type { UsageLedger } from './usage/ledger.js';
import type { HostedImages } from './images/hosted-images.js';
import { TextAllowance } from './usage/text-allowance.js';
import { formatUsd, nanoToUsdNumber } from './usage/money.js';
import { createBatchRuntime, type BatchRuntime } from './batch/runtime.js';
import { createVertexEndpoint } from './vertex/vertex-projects.js';
import type { VertexEndpoint } from './vertex/vertex-endpoint.js';

export interface AppDeps {
  config: Readonly<GatewayConfig>;
  clock: Clock;
  logger: Logger;
  upstream: UpstreamClient;
  db: Database;
  store: QuotaStore;
  quota: QuotaService;
  budgets: BudgetService;
  ledger: UsageLedger;
  /** The model table as this config and clock see it. */
  models: ModelResolver;
  tenants: TenantRegistry;
  metrics: GatewayMetrics;
  adminToken?: string;
  /** Where the live check and Google's modelStatus report to; buildApps makes one when not given. */
  modelFindings?: ModelFindings;
  /** What budget holds allow a call for text and thinking, learned from recent calls (#13.1); a fresh one when not given. */
  textAllowance?: TextAllowance;
  /** Where `response_format: "url"` images are kept (#14.4); without it such requests get a 400. */
  hostedImages?: HostedImages;
}

/** How long shutdown waits for aborted calls to be metered once every connection is closed. */
const RELAY_DRAIN_MS = 10_000;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The path a request line names, as the router sees it: absolute-form (`GET http://host/p`)
 * reduced to its path, the query dropped, percent-escapes decoded. Used only to pick an error
 * shape for requests no route matched; never for a security decision (those hang on routes).
 */
export function routingPath(url: string): string {
  let path = url;
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(path);
  if (absolute) path = path.slice(absolute[0].length) || '/';
  path = path.split('?')[0] ?? '';
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Which face's error shape a raw request URL gets when no route matched it (STYLE: shared /v1). */
function rendererForPath(url: string) {
  return rendererForRoute(routingPath(url));
}

/** The same for a path already in the router's form (a matched route's pattern): no decoding. */
function rendererForRoute(path: string) {
  if (path.startsWith('/admin')) return renderAdminError;
  if (path.startsWith('/v1beta/openai/')) return renderOpenAIError;
  if (path.startsWith('/v1beta/')) return renderGoogleError;
  if (/^\/v1\/models\/[^?]*:/.test(path)) return renderGoogleError;
  if (path.startsWith('/v1/')) return renderOpenAIError;
  return renderGoogleError;
}

/** A request line or header block Node could not parse, answered in the shape its path suggests. */
const CLIENT_ERRORS: Record<string, GatewayError> = {
  HPE_HEADER_OVERFLOW: new GatewayError('HEADERS_TOO_LARGE', 'Request header fields (or the URL) too large.'),
  ERR_HTTP_REQUEST_TIMEOUT: new GatewayError('REQUEST_TIMEOUT', 'The request was not received in time (server.requestTimeoutMs).'),
  ERR_HTTP_HEADERS_TIMEOUT: new GatewayError('REQUEST_TIMEOUT', 'The request headers were not received in time (server.headersTimeoutMs).'),
};
const MALFORMED_REQUEST = new GatewayError('INVALID_ARGUMENT', 'Malformed HTTP request.');

function renderClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): Buffer {
  const error = CLIENT_ERRORS[err.code ?? ''] ?? MALFORMED_REQUEST;
  // The request line, if it got that far, says which face the client meant.
  const firstLine = err.rawPacket?.toString('latin1', 0, Math.min(err.rawPacket.length, 8192)).split('\r\n')[0] ?? '';
  const target = /^[A-Z]+ (\S+)/.exec(firstLine)?.[1] ?? '/';
  const rendered = rendererForPath(target)(error);
  const body = JSON.stringify(rendered.body);
  const head = [`HTTP/1.1 ${rendered.status} ${STATUS_CODES[rendered.status] ?? 'Bad Request'}`, 'content-type: application/json; charset=utf-8', `content-length: ${Buffer.byteLength(body)}`, 'connection: close'];
  for (const [name, value] of Object.entries(rendered.headers)) head.push(`${name}: ${value}`);
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'utf8');
}

/**
 * A Fastify instance with what every server of the gateway shares: the request log line and
 * metrics, request ids, the error shape of requests no route took, timeouts, CORS.
 */
async function newServer(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const logger: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance: logger,
    // One line per request comes from the onResponse hook below, not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    // A hop count is Fastify's too (documented, missing from its types).
    trustProxy: config.server.trustProxy as boolean | string | string[],
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `req_${randomHex(16)}`;
    },
    forceCloseConnections: 'idle',
    // A body trickled in a byte at a time must not hold a connection for ever (#10): the whole
    // request, body included, must arrive within requestTimeoutMs, its headers within
    // headersTimeoutMs. Node checks both every connectionsCheckingInterval.
    requestTimeout: config.server.requestTimeoutMs,
    http: {
      // Node would answer a missing Host with a bare 400; the onRequest hook below answers it
      // in the face's shape instead.
      requireHostHeader: false,
      headersTimeout: config.server.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, config.server.headersTimeoutMs),
    } satisfies ServerOptions as ServerOptions,
    // Requests Node cannot parse (bad request line, 100 KB URL, header overflow, timeouts)
    // and URLs the router cannot decode get the face's error shape, not Fastify's.
    clientErrorHandler(err, socket) {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(renderClientError(err as unknown as NodeJS.ErrnoException & { rawPacket?: Buffer }));
      socket.destroy();
    },
    frameworkErrors(error, request, reply) {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const err = new GatewayError('INVALID_ARGUMENT', tooLong ? 'A path segment of the URL is too long.' : 'The URL is not valid: it has a malformed percent-escape.');
      return sendError(reply, err, rendererForPath(request.raw.url ?? '/'));
    },
  });

  app.decorateRequest('caller', null);
  app.decorateRequest('credentialSource', null);
  app.decorateRequest('modelId', null);
  app.decorateRequest('modelAsked', null);
  app.decorateRequest('upstreamTally', null);

  // Hooks on every request are callback style: no promise and microtask per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      return done(new GatewayError('INVALID_ARGUMENT', 'An HTTP/1.1 request needs a Host header (RFC 9112 §3.2).'));
    }
    done();
  });
  // server.close() leaves keep-alive connections open after the answer that was running when it
  // began (measured: they stayed until the grace period cut them, 30 s after SIGTERM), and lets
  // them carry new requests meanwhile. Once closing, each connection ends with its answer.
  let draining = false;
  app.addHook('preClose', (done) => {
    draining = true;
    done();
  });
  // One log line per request; keys never appear in it (no headers, no query string). Model
  // routes add what their upstream calls came to once the model is known (#12).
  app.addHook('onResponse', (request, reply, done) => {
    if (draining) request.raw.socket?.end();
    const route = request.routeOptions.url;
    const renderer = route === undefined ? rendererForPath(request.url) : rendererForRoute(route);
    const face = renderer === renderOpenAIError ? 'openai' : renderer === renderAdminError ? 'admin' : 'native';
    deps.metrics.requests.inc({ face, status: String(reply.statusCode) });
    deps.metrics.requestDuration.observe({ face }, reply.elapsedTime / 1000);
    const tally = request.upstreamTally;
    request.log.info(
      {
        method: request.method,
        route: route ?? routingPath(request.url),
        status: reply.statusCode,
        tenant: request.caller?.tenant.id,
        keyId: request.caller?.keyId,
        modelAsked: request.modelAsked ?? undefined,
        model: request.modelId ?? undefined,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ...(tally
          ? {
              attempts: tally.attempts,
              inputTokens: tally.inputTokens,
              outputTokens: tally.outputTokens,
              images: tally.images,
              costUsd: Number(formatUsd(tally.costNanoUsd)),
              // Files or thought signatures tied the call to this project (#17.5).
              ...(tally.pin ? { pinnedTo: tally.pin.projectId, pinnedBy: tally.pin.by } : {}),
            }
          : {}),
      },
      'request',
    );
    done();
  });

  // Errors no face's own handler caught (root hooks, framework errors before routing).
  installErrorHandler(app, (err, request) => rendererForPath(request.url)(err));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new GatewayError('ROUTE_NOT_FOUND', `No route ${request.method} ${routingPath(request.url).slice(0, 200)}.`), rendererForPath(request.url)),
  );
  // Off unless origins are configured: no CORS headers, no preflight route.
  if (config.server.cors.origins.length > 0) {
    const policy = corsPolicy(config.server.cors, (request) => {
      const route = request.routeOptions.url;
      return route && route !== '*' ? route : routingPath(request.url);
    });
    await app.register(cors, { delegator: (request, callback) => callback(null, policy(request)) });
  }
  return app;
}

/** The gateway's servers: the public one, and the ops one when `server.opsPort` is set. */
export interface GatewayApps {
  app: FastifyInstance;
  /** /healthz, /readyz, /metrics and /admin, on `server.opsPort`; undefined: they are on `app`. */
  ops: FastifyInstance | undefined;
  /** What the model live check and Google's answers found: the gateway's live check reports here. */
  modelFindings: ModelFindings;
  /** Google batches and files (#16): gateway.ts starts its follower. */
  batches: BatchRuntime;
}

/** The public app, with the ops routes on it (for a config without `server.opsPort`). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { app, ops } = await buildApps(deps);
  if (ops) throw new Error('server.opsPort is set: build with buildApps() and serve its ops app too');
  return app;
}

/** Registers every plugin on new Fastify instances. No I/O of its own: deps come in ready. */
export async function buildApps(deps: AppDeps): Promise<GatewayApps> {
  const { config } = deps;
  const app = await newServer(deps);
  // Probes, scrapers and operators reach the ops port; the public edge reaches only the faces.
  const ops = config.server.opsPort !== undefined ? await newServer(deps) : undefined;
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  await app.register(rateLimit, { global: false });
  const authLimiter = createAuthFailureLimiter(app, { max: 20, windowMs: 60_000, nowMs: () => deps.clock.nowMs() });

  // A pooled project's counters live under its pool's hash tag (#17), whichever path counts it.
  const poolOf = new Map(config.pools.flatMap((pool) => pool.projects.map((m) => [m.project, pool.id] as const)));
  // Vertex AI projects (#17.3): an endpoint each, its tokens' refusals told to the operator like Google's.
  const vertexEndpoints: VertexEndpoint[] = [];
  const vertexDeps = { upstream: deps.upstream, clock: deps.clock, logger: deps.logger, onRefused: (id: string, r: ProjectRefusal) => projectRefusals.refused(id, '', r) };
  const projects = new Map<string, ProjectRuntime>(
    config.projects.map((p) => {
      const pool = poolOf.get(p.id);
      const vertex = p.vertex ? createVertexEndpoint(p.id, p.vertex, vertexDeps) : undefined;
      if (vertex) vertexEndpoints.push(vertex);
      return [p.id, { id: p.id, apiKey: p.apiKey, tier: p.tier, ...(p.limits ? { limits: p.limits } : {}), ...(pool !== undefined ? { pool } : {}), ...(vertex ? { vertex } : {}) }];
    }),
  );
  const pools = new Map<string, PoolRuntime>(
    config.pools.map((pool) => [
      pool.id,
      {
        id: pool.id,
        strategy: pool.strategy,
        members: pool.projects.flatMap((m) => { const project = projects.get(m.project); return project ? [{ project, weight: m.weight }] : []; }),
        signatureTtlMs: pool.signatureTtlHours * 3_600_000,
      },
    ]),
  );
  const modelFindings =
    deps.modelFindings ??
    new ModelFindings({
      logger: deps.logger,
      clock: deps.clock,
      onCount: (project, kind, count) => deps.metrics.modelCheckFindings.set({ project, kind }, count),
      onCheck: (project, outcome) => deps.metrics.modelChecks.inc({ project, outcome }),
    });
  const projectRefusals = new ProjectRefusals({
    clock: deps.clock,
    logger: deps.logger,
    onRefusal: (project, reason) => deps.metrics.projectRefusals.inc({ project, reason }),
  });
  const relay = new GeminiRelay({
    upstream: deps.upstream,
    quota: deps.quota,
    budgets: deps.budgets,
    ledger: deps.ledger,
    clock: deps.clock,
    logger: deps.logger,
    onUpstreamCall: (model, status) => deps.metrics.upstreamCalls.inc({ model, status: String(status) }),
    onUpstreamAttempt: (model, outcome) => deps.metrics.upstreamAttempts.inc({ model, outcome: String(outcome) }),
    onRecord: (r) => {
      deps.metrics.costUsd.inc({ tenant: r.tenantId, model: r.model }, nanoToUsdNumber(r.costNanoUsd));
      deps.metrics.projectCalls.inc({ project: r.projectId, model: r.model, status: String(r.httpStatus) });
    },
    ...(pools.size > 0 ? { pools, pins: deps.store } : {}),
    onSpill: (from, to, model, status) => deps.metrics.poolSpills.inc({ from, to, model, status: String(status) }),
    holds: config.budget.holds,
    textAllowance: deps.textAllowance ?? new TextAllowance(),
    onOvershoot: (r, excessNanoUsd) => {
      deps.metrics.budgetOvershoots.inc({ tenant: r.tenantId, model: r.model });
      deps.metrics.budgetOvershootUsd.inc({ tenant: r.tenantId, model: r.model }, nanoToUsdNumber(excessNanoUsd));
    },
    onModelStatus: (project, model, status) => modelFindings.modelStatus(project, model, status),
    projectRefusals,
  });
  // Runs once the server has closed (every connection ended or cut at the grace period, which
  // aborts the calls still running): each call that reached Google is metered before
  // gateway.close() closes the ledger (#10.6).
  app.addHook('onClose', async () => {
    if (!(await relay.drain(RELAY_DRAIN_MS))) {
      deps.logger.error({ inFlight: relay.inFlight }, 'calls still running at shutdown: their usage records may be lost');
    }
    await Promise.allSettled(vertexEndpoints.map((v) => v.close()));
  });
  // No I/O here: the follower that polls Google is started by gateway.ts (tests tick it).
  const batches = createBatchRuntime({
    config,
    clock: deps.clock,
    logger: deps.logger,
    db: deps.db,
    store: deps.store,
    upstream: deps.upstream,
    ledger: deps.ledger,
    models: deps.models,
    projects,
    onSettled: (batch, _records, costNanoUsd) => deps.metrics.costUsd.inc({ tenant: batch.tenantId, model: batch.model }, nanoToUsdNumber(costNanoUsd)),
  });
  const faceDeps: FaceDeps = {
    config,
    clock: deps.clock,
    relay,
    batches,
    upstream: deps.upstream,
    models: deps.models,
    tenants: deps.tenants,
    projects,
    authLimiter,
    db: deps.db,
    budgets: deps.budgets,
    ledger: deps.ledger,
    onError: (err) => deps.metrics.errors.inc({ code: err.code }),
    ...(deps.hostedImages ? { hostedImages: deps.hostedImages } : {}),
  };

  await (ops ?? app).register(opsRoutes, {
    metrics: deps.metrics,
    readinessChecks: {
      // Draining at SIGTERM: the orchestrator should send nothing new here.
      server: async () => {
        if (closing) throw new Error('shutting down');
        return 'ok';
      },
      store: async () => {
        try {
          await deps.store.ping();
          return 'ok';
        } catch (e) {
          // Counting locally is serving; deny mode refuses every call, so it is not ready.
          if (config.store.onFailure === 'local') return { degraded: `counting in this instance's memory: ${(e as Error).message}` };
          throw e;
        }
      },
      // An unreachable database is ridden out: usage records wait in memory (the ledger check
      // below turns not-ready when that backlog is full), admin keys stay trusted for a bound.
      database: async () => {
        try {
          await deps.db.ping();
          return 'ok';
        } catch (e) {
          return { degraded: `${(e as Error).message}; usage records held in memory (${deps.ledger.backlog()})` };
        }
      },
      ledger: async () => {
        if (deps.ledger.isFull()) throw new Error(`usage backlog full (${deps.ledger.backlog()} records waiting for the database)`);
        return 'ok';
      },
      // Google refusing a project's key is degraded, not unready: every instance shares the key,
      // so pulling them all would only add an outage for the other projects' tenants.
      upstream: async () => projectRefusals.readiness(),
      // The model table and Google disagreeing is degraded, never unready: every instance sees
      // the same Google, and the models that do match still serve (#11).
      models: async () => modelFindings.readiness(),
    },
  });
  await app.register(nativeFace, faceDeps);
  await app.register(openaiFace, faceDeps);
  // No token, no admin routes: every admin path is an unknown route (contract §1).
  if (deps.adminToken) {
    // The admin console (#18) lives beside the API it reads, and signs in with the same token.
    const consoleSessions = new ConsoleSessions({ adminToken: deps.adminToken, clock: deps.clock });
    await (ops ?? app).register(adminRoutes, { ...faceDeps, quota: deps.quota, adminToken: deps.adminToken, modelFindings, consoleSessions });
    await (ops ?? app).register(consoleRoutes, { adminToken: deps.adminToken, sessions: consoleSessions, clock: deps.clock, authLimiter });
  }
  return { app, ops, modelFindings, batches };
}

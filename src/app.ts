import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/schema.js';
import type { Database } from './db/database.js';
import { GatewayError } from './errors/gateway-error.js';
import { sendError } from './faces/error-handling.js';
import type { FaceDeps } from './faces/face-deps.js';
import { nativeFace } from './faces/native/plugin.js';
import { renderGoogleError } from './faces/native/errors.js';
import { openaiFace } from './faces/openai/plugin.js';
import { renderOpenAIError } from './faces/openai/errors.js';
import { adminRoutes } from './admin/plugin.js';
import { renderAdminError } from './admin/errors.js';
import './http/request-context.js';
import { ModelResolver } from './models/resolver.js';
import type { GatewayMetrics } from './ops/metrics.js';
import { opsRoutes } from './ops/plugin.js';
import type { QuotaService } from './quota/quota-service.js';
import { randomHex } from './random/pool.js';
import type { QuotaStore } from './quota/store.js';
import { GeminiRelay, type ProjectRuntime } from './relay/gemini-relay.js';
import { createAuthFailureLimiter } from './tenants/auth-hook.js';
import type { TenantRegistry } from './tenants/registry.js';
import type { Clock } from './time/clock.js';
import type { UpstreamClient } from './upstream/client.js';
import type { BudgetService } from './usage/budget.js';
import type { UsageLedger } from './usage/ledger.js';
import type { PriceTable } from './usage/pricing.js';

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
  prices: PriceTable;
  tenants: TenantRegistry;
  metrics: GatewayMetrics;
  adminToken?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Which face's error shape a path gets when no route matched it (STYLE: shared /v1). */
function rendererForPath(url: string) {
  const path = url.split('?')[0] ?? '';
  if (path.startsWith('/admin')) return renderAdminError;
  if (path.startsWith('/v1beta/openai/')) return renderOpenAIError;
  if (path.startsWith('/v1beta/')) return renderGoogleError;
  if (/^\/v1\/models\/[^?]*:/.test(path)) return renderGoogleError;
  if (path.startsWith('/v1/')) return renderOpenAIError;
  return renderGoogleError;
}

/** Registers every plugin on a new Fastify instance. No I/O of its own: deps come in ready. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const logger: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance: logger,
    // One line per request comes from the onResponse hook below, not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustProxy,
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `req_${randomHex(16)}`;
    },
    forceCloseConnections: 'idle',
  });

  app.decorateRequest('caller', null);
  app.decorateRequest('credentialSource', null);
  app.decorateRequest('modelId', null);

  // Hooks on every request are callback style: no promise and microtask per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  // One log line per request; keys never appear in it (no headers, no query string).
  app.addHook('onResponse', (request, reply, done) => {
    const face = rendererForPath(request.url) === renderOpenAIError ? 'openai' : request.url.startsWith('/admin') ? 'admin' : 'native';
    deps.metrics.requests.inc({ face, status: String(reply.statusCode) });
    deps.metrics.requestDuration.observe({ face }, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? request.url.split('?')[0],
        status: reply.statusCode,
        tenant: request.caller?.tenant.id,
        keyId: request.caller?.keyId,
        model: request.modelId ?? undefined,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
    done();
  });

  await app.register(rateLimit, { global: false });
  const authLimiter = createAuthFailureLimiter(app, { max: 20, windowMs: 60_000, nowMs: () => deps.clock.nowMs() });

  const projects = new Map<string, ProjectRuntime>(
    config.projects.map((p) => [p.id, { id: p.id, apiKey: p.apiKey, tier: p.tier, ...(p.limits ? { limits: p.limits } : {}) }]),
  );
  const relay = new GeminiRelay({
    upstream: deps.upstream,
    quota: deps.quota,
    budgets: deps.budgets,
    ledger: deps.ledger,
    prices: deps.prices,
    clock: deps.clock,
    logger: deps.logger,
    onUpstreamCall: (model, status) => deps.metrics.upstreamCalls.inc({ model, status: String(status) }),
    onRecord: (r) => deps.metrics.costNanoUsd.inc({ tenant: r.tenantId, model: r.model }, r.costNanoUsd),
  });
  const faceDeps: FaceDeps = {
    config,
    clock: deps.clock,
    relay,
    upstream: deps.upstream,
    models: new ModelResolver(config.aliases),
    tenants: deps.tenants,
    projects,
    authLimiter,
    db: deps.db,
    onError: (err) => deps.metrics.errors.inc({ code: err.code }),
  };

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new GatewayError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`), rendererForPath(request.url)),
  );

  await app.register(opsRoutes, {
    metrics: deps.metrics,
    readinessChecks: { store: () => deps.store.ping(), database: () => deps.db.ping() },
  });
  await app.register(nativeFace, faceDeps);
  await app.register(openaiFace, faceDeps);
  await app.register(adminRoutes, {
    ...faceDeps,
    quota: deps.quota,
    ...(deps.adminToken ? { adminToken: deps.adminToken } : {}),
  });
  return app;
}

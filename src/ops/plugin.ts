import type { FastifyInstance } from 'fastify';
import { installErrorHandler, refuseOtherMethods } from '../faces/error-handling.js';
import { renderGoogleError } from '../faces/native/errors.js';
import type { GatewayMetrics } from './metrics.js';

/** A readiness check's verdict: 'ok', or 'degraded' (serving, in a reduced mode); a rejection means not ready. */
export type ReadinessCheck = () => Promise<'ok' | { degraded: string }>;

export interface OpsDeps {
  metrics: GatewayMetrics;
  /** Each dependency /readyz checks, by name. */
  readinessChecks: Record<string, ReadinessCheck>;
}

/**
 * Liveness, readiness and metrics (contract §10). No authentication: keep them off the public
 * edge. /readyz answers "can this instance serve now": 200 while every check is ok or degraded
 * (Redis down with store.onFailure local: counting locally; the database unreachable, records
 * held; a Google project refused), 503 when one cannot serve (Redis down under deny, the usage
 * backlog full, shutting down), so an orchestrator does not pull every instance at once for a
 * fault they all ride out. With server.opsPort these routes live on that port alone.
 */
export async function opsRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  installErrorHandler(app, renderGoogleError);
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const entries = Object.entries(deps.readinessChecks);
    const results = await Promise.allSettled(entries.map(([, check]) => withTimeout(check(), 2_000)));
    const checks: Record<string, string> = {};
    let ready = true;
    let degraded = false;
    results.forEach((r, i) => {
      const name = entries[i]![0];
      if (r.status === 'rejected') {
        checks[name] = `unavailable: ${(r.reason as Error)?.message ?? String(r.reason)}`;
        ready = false;
      } else if (r.value === 'ok') {
        checks[name] = 'ok';
      } else {
        checks[name] = `degraded: ${r.value.degraded}`;
        degraded = true;
      }
    });
    return reply.code(ready ? 200 : 503).send({ status: ready ? (degraded ? 'degraded' : 'ready') : 'not ready', checks });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  refuseOtherMethods(app, '/healthz', ['GET']);
  refuseOtherMethods(app, '/readyz', ['GET']);
  refuseOtherMethods(app, '/metrics', ['GET']);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

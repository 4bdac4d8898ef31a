import type { FastifyInstance } from 'fastify';
import type { GatewayMetrics } from './metrics.js';

export interface OpsDeps {
  metrics: GatewayMetrics;
  /** Each dependency /readyz checks, by name; a rejection means not ready. */
  readinessChecks: Record<string, () => Promise<void>>;
}

/** Liveness, readiness and metrics (contract §10). No authentication: keep them off the public edge. */
export async function opsRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const entries = Object.entries(deps.readinessChecks);
    const results = await Promise.allSettled(entries.map(([, check]) => withTimeout(check(), 2_000)));
    const checks: Record<string, string> = {};
    let ready = true;
    results.forEach((r, i) => {
      checks[entries[i]![0]] = r.status === 'fulfilled' ? 'ok' : `unavailable: ${(r.reason as Error)?.message ?? String(r.reason)}`;
      if (r.status === 'rejected') ready = false;
    });
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
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

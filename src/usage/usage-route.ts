import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/database.js';
import type { ModelResolver } from '../models/resolver.js';
import type { Clock } from '../time/clock.js';
import { parseUsageQuery, renderUsageCsv, renderUsageJson, usageCsvFilename } from './report.js';

/**
 * Answers a usage report request: `GET /admin/usage` (every tenant) and `GET /v1/usage` (the
 * caller's own rows only, `scope.tenantId`). Parameters are validated with the parameter named.
 */
export async function sendUsageReport(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: { db: Database; models: ModelResolver; clock: Clock },
  scope: { tenantId?: string },
): Promise<FastifyReply> {
  const params = { ...(request.query as Record<string, unknown>) };
  // Records hold canonical ids; an alias in the filter means its model.
  const model = params['model'];
  // An alias filters by the model it names.
  if (typeof model === 'string' && model) params['model'] = deps.models.lookup(model)?.id ?? model;
  const { query, format } = parseUsageQuery(params, { nowMs: deps.clock.nowMs(), ...(scope.tenantId !== undefined ? { scopeTenantId: scope.tenantId } : {}) });
  const db = deps.db;
  const rows = await db.queryUsage(query);
  if (format === 'csv') {
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${usageCsvFilename(query)}"`)
      .send(renderUsageCsv(query, rows));
  }
  return reply.send(renderUsageJson(query, rows));
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/database.js';
import { parseUsageQuery, renderUsageCsv, renderUsageJson, usageCsvFilename } from './report.js';

/**
 * Answers a usage report request: `GET /admin/usage` (every tenant) and `GET /v1/usage` (the
 * caller's own rows only, `scope.tenantId`). Parameters are validated with the parameter named.
 */
export async function sendUsageReport(request: FastifyRequest, reply: FastifyReply, db: Database, scope: { tenantId?: string }): Promise<FastifyReply> {
  const { query, format } = parseUsageQuery(request.query as Record<string, unknown>, scope.tenantId !== undefined ? { scopeTenantId: scope.tenantId } : {});
  const rows = await db.queryUsage(query);
  if (format === 'csv') {
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${usageCsvFilename(query)}"`)
      .send(renderUsageCsv(query, rows));
  }
  return reply.send(renderUsageJson(query, rows));
}

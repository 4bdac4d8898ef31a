/**
 * Admin routes the console reads (#18) beyond the original API: the projects, the recent
 * calls and one call. Registered inside the admin plugin, so its token (or session) check
 * covers them like every other admin route.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { refuseOtherMethods } from '../faces/error-handling.js';
import type { RecentUsageQuery } from '../db/database.js';
import type { AdminDeps } from './plugin.js';
import { USAGE_FLAGS, type UsageRecord } from '../usage/record.js';
import { formatUsd } from '../usage/money.js';
import type { BudgetPeriodView } from '../usage/budget.js';

/** The most records one look at the recent calls returns. */
export const MAX_RECENT_CALLS = 1000;
const DEFAULT_RECENT_CALLS = 200;

/** `status` values of GET /admin/calls: a class or one code. */
const STATUS_CLASSES: Readonly<Record<string, { from: number; to: number }>> = {
  success: { from: 200, to: 299 },
  error: { from: 400, to: 599 },
  '4xx': { from: 400, to: 499 },
  '5xx': { from: 500, to: 599 },
};

const invalid = (param: string, message: string) => new GatewayError('INVALID_ARGUMENT', `${param}: ${message}`, { param });

function single(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(name, 'must be given once');
  return v;
}

/** One call as the console shows it: the record, with its cost as USD text. */
export function callView(r: UsageRecord): Record<string, unknown> {
  return {
    id: r.id,
    requestId: r.requestId,
    time: new Date(r.timeMs).toISOString(),
    day: r.day,
    tenant: r.tenantId,
    key: r.keyId,
    project: r.projectId,
    route: r.route,
    modelAsked: r.modelAsked,
    model: r.model,
    imageSize: r.imageSize,
    images: r.imagesReturned,
    tokens: {
      input: r.inputTokens,
      inputText: r.inputTextTokens,
      inputImage: r.inputImageTokens,
      outputImage: r.outputImageTokens,
      outputText: r.outputTextTokens,
      thinking: r.thinkingTokens,
    },
    costUsd: formatUsd(r.costNanoUsd),
    httpStatus: r.httpStatus,
    finishReason: r.finishReason,
    latencyMs: r.latencyMs,
    user: r.user,
    batch: r.batch,
    flags: r.flags,
    usageMetadata: r.usageMetadata,
    priceVersion: r.priceVersion,
  };
}

export function consoleApiRoutes(app: FastifyInstance, deps: AdminDeps): void {
  // Each project's headroom now (#17.4): per model, what is left of each limited dimension, and
  // the cool-down after Google's 429 if one is in force; the pool it serves in, if any.
  app.get('/admin/projects', async () => {
    const nowMs = deps.clock.nowMs();
    const models = deps.models.canonicalModels();
    const projects = await Promise.all(
      [...deps.projects.values()].map(async (p) => {
        const { rows, cooldowns } = await deps.quota.snapshotWithCooldowns(p, models, nowMs);
        const headroom: Record<string, Record<string, number | string>> = {};
        for (const r of rows) (headroom[r.model] ??= {})[r.dimension] = r.remaining;
        for (const c of cooldowns) (headroom[c.model] ??= {})['coolingDownUntil'] = new Date(c.untilMs).toISOString();
        const vertex = p.vertex ? { vertex: { project: p.vertex.project, location: p.vertex.location } } : {};
        return { id: p.id, kind: p.vertex ? 'vertex' : 'gemini', ...vertex, tier: p.tier, ...(p.pool !== undefined ? { pool: p.pool } : {}), headroom };
      }),
    );
    return { projects };
  });

  // A tenant's budget as it stands: spent (settled), held (calls in flight) and remaining, per
  // Pacific day and month; a period without a limit shows its spend only.
  app.get('/admin/tenants/:id/budget', async (request) => {
    const { id } = request.params as { id: string };
    const budget = deps.tenants.isConfigTenant(id) ? deps.tenants.tenant(id)?.budget : (await deps.db.getTenant(id))?.budget;
    if (budget === undefined && !deps.tenants.isConfigTenant(id)) throw new GatewayError('NOT_FOUND', `No tenant ${id}.`);
    // The tenant's own budgets only: no key is named, so the key's periods (unlimited, read
    // from the ledger for a key id no record has) come back empty and are left out.
    const view = await deps.budgets.read({ tenantId: id, tenantBudget: budget ?? {}, keyId: '' }, deps.clock.nowMs());
    const period = (name: 'daily' | 'monthly', p: BudgetPeriodView) => ({
      period: name,
      key: p.key,
      limitUsd: p.limitNanoUsd === undefined ? null : formatUsd(p.limitNanoUsd),
      spentUsd: formatUsd(p.spentNanoUsd),
      heldUsd: formatUsd(p.heldNanoUsd),
      remainingUsd: p.remainingNanoUsd === undefined ? null : formatUsd(p.remainingNanoUsd),
      resetAt: new Date(p.resetAtMs).toISOString(),
    });
    return { tenant: id, periods: [period('daily', view.tenant.daily), period('monthly', view.tenant.monthly)] };
  });

  // GET /admin/calls?limit=200&tenant=&model=&status=success|error|4xx|5xx|<code>&flag=
  app.get('/admin/calls', async (request) => {
    const query = request.query as Record<string, unknown>;
    const limitText = single(query, 'limit');
    const limit = limitText === undefined ? DEFAULT_RECENT_CALLS : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT_CALLS) throw invalid('limit', `must be a whole number from 1 to ${MAX_RECENT_CALLS}`);
    const q: RecentUsageQuery = { limit };
    const tenant = single(query, 'tenant');
    if (tenant !== undefined) q.tenantId = tenant;
    const model = single(query, 'model');
    // Records hold canonical ids; an alias filters by the model it names.
    if (model !== undefined) q.model = deps.models.lookup(model)?.id ?? model;
    const status = single(query, 'status');
    if (status !== undefined) {
      const range = STATUS_CLASSES[status] ?? (/^[1-5]\d\d$/.test(status) ? { from: Number(status), to: Number(status) } : undefined);
      if (!range) throw invalid('status', `must be success, error, 4xx, 5xx or an HTTP status code, got '${status.slice(0, 40)}'`);
      q.httpStatus = range;
    }
    const flag = single(query, 'flag');
    if (flag !== undefined) {
      const known = USAGE_FLAGS.find((f) => f === flag);
      if (!known) throw invalid('flag', `must be one of ${USAGE_FLAGS.join(', ')}`);
      q.flag = known;
    }
    const records = await deps.db.recentUsage(q);
    return { calls: records.map(callView), limit };
  });

  // One call by its record id, or every call of a request by its request id (x-request-id).
  app.get('/admin/calls/:id', async (request) => {
    const { id } = request.params as { id: string };
    const records = await deps.db.usageByRequest(id);
    if (records.length === 0) throw new GatewayError('NOT_FOUND', `No call with id or request id ${id.slice(0, 200)}.`);
    return { calls: records.map(callView) };
  });

  refuseOtherMethods(app, '/admin/projects', ['GET']);
  refuseOtherMethods(app, '/admin/tenants/:id/budget', ['GET']);
  refuseOtherMethods(app, '/admin/calls', ['GET']);
  refuseOtherMethods(app, '/admin/calls/:id', ['GET']);
}

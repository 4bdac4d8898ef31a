/**
 * What a tenant reads about its own money with its key (#13.2, #13.4): its budgets as they stand
 * (`GET /v1/budget`) and the cost of one of its requests after the fact
 * (`GET /v1/usage/requests/{requestId}`). Amounts are six-decimal USD strings, as everywhere.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/database.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Caller } from '../tenants/registry.js';
import type { Clock } from '../time/clock.js';
import type { BudgetPeriodView, BudgetService } from './budget.js';
import type { UsageLedger } from './ledger.js';
import { formatUsd } from './money.js';
import type { UsageRecord } from './record.js';

function periodJson(p: BudgetPeriodView): Record<string, unknown> {
  return {
    period: p.key,
    limitUsd: p.limitNanoUsd === undefined ? null : formatUsd(p.limitNanoUsd),
    spentUsd: formatUsd(p.spentNanoUsd),
    heldUsd: formatUsd(p.heldNanoUsd),
    remainingUsd: p.remainingNanoUsd === undefined ? null : formatUsd(p.remainingNanoUsd),
    startsAt: new Date(p.startsAtMs).toISOString(),
    resetsAt: new Date(p.resetAtMs).toISOString(),
  };
}

/**
 * GET /v1/budget: the caller's tenant's and key's daily and monthly budgets: limit (null: none
 * set), spent, held by calls in flight, remaining (null without a limit), and when each resets.
 */
export async function sendBudget(request: FastifyRequest, deps: { budgets: BudgetService; clock: Clock }): Promise<Record<string, unknown>> {
  const caller: Caller = request.caller!;
  const nowMs = deps.clock.nowMs();
  const view = await deps.budgets.read(
    { tenantId: caller.tenant.id, tenantBudget: caller.tenant.budget, keyId: caller.keyId, keyBudget: caller.key?.budget },
    nowMs,
  );
  return {
    at: new Date(nowMs).toISOString(),
    tenant: { id: view.tenant.id, daily: periodJson(view.tenant.daily), monthly: periodJson(view.tenant.monthly) },
    key: { id: view.key.id, label: caller.key?.label ?? null, daily: periodJson(view.key.daily), monthly: periodJson(view.key.monthly) },
  };
}

function callJson(r: UsageRecord): Record<string, unknown> {
  return {
    id: r.id,
    time: new Date(r.timeMs).toISOString(),
    key: r.keyId,
    route: r.route,
    modelAsked: r.modelAsked,
    model: r.model,
    imageSize: r.imageSize,
    images: r.imagesReturned,
    inputTokens: r.inputTokens,
    outputImageTokens: r.outputImageTokens,
    outputTextTokens: r.outputTextTokens,
    thinkingTokens: r.thinkingTokens,
    costUsd: formatUsd(r.costNanoUsd),
    status: r.httpStatus,
    finishReason: r.finishReason,
    latencyMs: r.latencyMs,
    flags: r.flags,
    user: r.user,
  };
}

/**
 * GET /v1/usage/requests/{requestId}: every upstream call of one request (n=4 made four) and
 * their total, for the tenant that made it; any other tenant gets 404, as for an unknown id.
 * Records not yet flushed to the database come from the ledger's queue.
 */
export async function sendRequestUsage(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: { db: Database; ledger: UsageLedger },
): Promise<FastifyReply> {
  const tenantId = request.caller!.tenant.id;
  const { requestId } = request.params as { requestId: string };
  const mine = (r: UsageRecord) => r.requestId === requestId && r.tenantId === tenantId;
  const stored = (await deps.db.usageByRequest(requestId)).filter(mine);
  const seen = new Set(stored.map((r) => r.id));
  const records = [...stored, ...deps.ledger.pendingForRequest(requestId).filter((r) => mine(r) && !seen.has(r.id))].sort(
    (a, b) => a.timeMs - b.timeMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  if (records.length === 0) throw new GatewayError('NOT_FOUND', `No request ${requestId} of this tenant in the usage ledger.`);
  const total = records.reduce((sum, r) => sum + BigInt(r.costNanoUsd), 0n);
  return reply.send({ requestId, tenant: tenantId, calls: records.map(callJson), costUsd: formatUsd(total) });
}

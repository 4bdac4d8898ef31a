/**
 * Batches for both faces (#16): admission (the project's enqueued-token limit and the tenant's
 * budget, held at Batch prices before anything is sent), the call to Google, and the batch as a
 * database row owned by the tenant and key that made it. A batch another tenant made is
 * NOT_FOUND, as if it did not exist.
 *
 * Google's side of each batch is named `nanogate:<id>` (its display name); the tenant's display
 * name stays in the row. A batch whose create answer was lost (the process died, the connection
 * broke) is found again by that name (recoverSubmission), so its cost is still metered.
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import type { StoredBatch, StoredBatchFile } from '../db/batch-store.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ModelSpec } from '../models/catalog.js';
import type { ProjectRuntime } from '../relay/gemini-relay.js';
import type { Caller } from '../tenants/registry.js';
import type { Clock } from '../time/clock.js';
import { BudgetService, type BudgetReservation } from '../usage/budget.js';
import { vertexHasNoFilesApi, type FileService } from '../files/file-service.js';
import { batchTokenLimit, batchTokensRefusal } from './admission.js';
import { batchDoc, fileDoc, isTerminal, stateRank, type BatchDoc, type StoredReservation } from './batch-doc.js';
import { batchHoldNanoUsd, batchInputTokens } from './batch-pricing.js';
import { googleFailure, type GoogleBatchClient } from './google-client.js';
import { batchIdFrom, batchNameOf, googleDisplayNameOf, newObjectId } from './names.js';
import { BatchResultReader } from './result-reader.js';
import type { RequestStats } from './request-stats.js';

export interface BatchServiceDeps {
  db: Database;
  google: GoogleBatchClient;
  files: FileService;
  /** A BudgetService whose holds last as long as a batch may (BATCH_HOLD_MS). */
  budgets: BudgetService;
  clock: Clock;
  logger: Logger;
  holds: 'sized' | 'strict';
  projects: ReadonlyMap<string, ProjectRuntime>;
}

/** Google expires a batch not done in 48 h; the hold outlives that, with a margin for the follower. */
export const BATCH_HOLD_MS = 72 * 3600_000;

export type BatchSource =
  /** Inline requests: the tenant's whole request body, parsed, and their counts. */
  | { kind: 'inline'; body: Record<string, unknown>; stats: RequestStats; imageSize: string | null }
  | { kind: 'file'; file: StoredBatchFile };

export interface CreateBatch {
  caller: Caller;
  project: ProjectRuntime;
  model: ModelSpec;
  modelAsked: string;
  face: 'native' | 'openai';
  displayName: string;
  priority?: string;
  source: BatchSource;
  openai?: BatchDoc['openai'];
}

const notFound = (name: string) => new GatewayError('NOT_FOUND', `Requested entity was not found: ${name} does not exist.`);

function reservationOf(s: StoredReservation): BudgetReservation {
  return { tenantId: s.tenantId, id: s.id, amountNanoUsd: BigInt(s.amountNanoUsd), periods: s.periods, remainingNanoUsd: BigInt(s.remainingNanoUsd) };
}

export function storedReservation(r: BudgetReservation): StoredReservation {
  return { tenantId: r.tenantId, id: r.id, amountNanoUsd: r.amountNanoUsd.toString(), periods: r.periods.map((p) => ({ ...p })), remainingNanoUsd: r.remainingNanoUsd.toString() };
}

/** Settles a batch's budget hold to `actual` (0: nothing was spent). */
export async function settleHold(budgets: BudgetService, doc: BatchDoc, actualNanoUsd: bigint): Promise<void> {
  if (doc.reservation) await budgets.settle(reservationOf(doc.reservation), actualNanoUsd);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export class BatchService {
  readonly #d: BatchServiceDeps;

  constructor(deps: BatchServiceDeps) {
    this.#d = deps;
  }

  get deps(): BatchServiceDeps {
    return this.#d;
  }

  projectOf(projectId: string): ProjectRuntime {
    const p = this.#d.projects.get(projectId);
    if (!p) throw new GatewayError('INTERNAL', `Project ${projectId} is not configured.`);
    return p;
  }

  /**
   * Admits and submits a batch. Refusals (budget, enqueued tokens) happen before anything
   * reaches Google and hold nothing; a batch Google refuses is forgotten and its hold returned.
   */
  async create(c: CreateBatch): Promise<{ batch: StoredBatch; holdNanoUsd: bigint }> {
    const d = this.#d;
    if (c.project.vertex) throw vertexHasNoFilesApi(c.project.id);
    if (!c.model.batch) throw new GatewayError('INVALID_ARGUMENT', `models/${c.model.id} does not support batchGenerateContent.`);
    if (!c.project.apiKey) throw new GatewayError('UPSTREAM_UNAVAILABLE', `Project ${c.project.id} has no Google API key configured; the operator must set it (GEMINI_API_KEY).`);
    let stats: RequestStats;
    let imageSize: string | null;
    if (c.source.kind === 'file') {
      const f = fileDoc(c.source.file);
      if (c.source.file.purpose !== 'batch' || !f.stats) {
        throw new GatewayError('INVALID_ARGUMENT', `${c.source.file.name} is not a batch input file: ${f.statsError ?? 'it is a batch result'}.`, { param: 'batch.input_config.file_name' });
      }
      stats = f.stats;
      imageSize = f.imageSize ?? null;
    } else {
      stats = c.source.stats;
      imageSize = c.source.imageSize;
    }
    if (stats.requests === 0) throw new GatewayError('INVALID_ARGUMENT', 'The batch has no requests.');

    const nowMs = d.clock.nowMs();
    const enqueuedTokens = batchInputTokens(c.model, stats);
    const holdNanoUsd = batchHoldNanoUsd(c.model, stats, { holds: d.holds, atMs: nowMs });
    const limit = batchTokenLimit(c.project, c.model);
    if (limit !== undefined && enqueuedTokens > limit) {
      throw batchTokensRefusal({ project: c.project, model: c.model, tenantId: c.caller.tenant.id, limit, used: 0, requested: enqueuedTokens });
    }
    const owners = { tenantId: c.caller.tenant.id, tenantBudget: c.caller.tenant.budget, keyId: c.caller.keyId, keyBudget: c.caller.key?.budget };
    const reservation = BudgetService.applies(owners) ? await d.budgets.reserve({ ...owners, amountNanoUsd: holdNanoUsd, nowMs }) : undefined;

    const id = newObjectId();
    const name = batchNameOf(id);
    const doc: BatchDoc = {
      face: c.face,
      modelAsked: c.modelAsked,
      displayName: c.displayName,
      requestCount: stats.requests,
      input: c.source.kind === 'file' ? { kind: 'file', file: c.source.file.name } : { kind: 'inline' },
      imageSize,
      holdNanoUsd: holdNanoUsd.toString(),
      reservation: reservation ? storedReservation(reservation) : null,
      ...(c.priority !== undefined ? { priority: c.priority } : {}),
      google: {},
      ...(c.openai ? { openai: c.openai } : {}),
    };
    const row: StoredBatch = {
      name,
      tenantId: c.caller.tenant.id,
      keyId: c.caller.keyId,
      projectId: c.project.id,
      model: c.model.id,
      googleName: null,
      state: 'SUBMITTING',
      enqueuedTokens,
      active: true,
      settledAtMs: null,
      deletedAtMs: null,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
      doc: doc as unknown as Record<string, unknown>,
    };
    let admitted;
    try {
      admitted = await d.db.admitBatch(row, limit);
    } catch (e) {
      if (reservation) await d.budgets.settle(reservation, 0n);
      throw e;
    }
    if (!admitted.admitted) {
      if (reservation) await d.budgets.settle(reservation, 0n);
      throw batchTokensRefusal({ project: c.project, model: c.model, tenantId: c.caller.tenant.id, limit: limit ?? 0, used: admitted.enqueuedTokens, requested: enqueuedTokens });
    }

    // Google's side carries the gateway's tag as its display name; the tenant's stays in the row.
    const tag = googleDisplayNameOf(id);
    const body =
      c.source.kind === 'file'
        ? { batch: { displayName: tag, inputConfig: { fileName: c.source.file.googleName }, ...(c.priority !== undefined ? { priority: c.priority } : {}) } }
        : { ...c.source.body, batch: { ...(c.source.body['batch'] as Record<string, unknown>), displayName: tag } };
    let answer;
    try {
      answer = await d.google.createBatch(c.project, c.model.id, Buffer.from(JSON.stringify(body)));
    } catch (e) {
      // Whether Google created it is unknown: the row stays SUBMITTING, and the follower looks
      // for the tag once the call could no longer be running (recoverSubmission).
      d.logger.warn({ err: (e as Error).message, batch: name }, 'batch create call failed without an answer: left for the follower to find or release');
      throw e;
    }
    if (!answer.ok) {
      await d.db.removeBatch(name);
      if (reservation) await d.budgets.settle(reservation, 0n);
      throw googleFailure(answer);
    }
    const op = answer.json;
    const googleName = str(op['name']);
    if (!googleName || !/^batches\/[^/]+$/.test(googleName)) throw new GatewayError('UPSTREAM_UNAVAILABLE', "Google's answer to the batch create named no batch.");
    const meta = (op['metadata'] && typeof op['metadata'] === 'object' ? op['metadata'] : {}) as Record<string, unknown>;
    const state = str(meta['state']) ?? 'BATCH_STATE_PENDING';
    const updated = await d.db.updateBatch(
      name,
      {
        googleName,
        state,
        active: !isTerminal(state),
        doc: { ...doc, google: this.#googleFields(meta, {}), refreshedAtMs: d.clock.nowMs() } as unknown as Record<string, unknown>,
      },
      d.clock.nowMs(),
    );
    d.logger.info({ batch: name, googleName, model: c.model.id, requests: stats.requests, enqueuedTokens, holdNanoUsd: holdNanoUsd.toString(), tenant: c.caller.tenant.id }, 'batch submitted');
    return { batch: updated ?? row, holdNanoUsd };
  }

  #googleFields(meta: Record<string, unknown>, prior: BatchDoc['google']): BatchDoc['google'] {
    const stats = meta['batchStats'];
    return {
      ...prior,
      ...(str(meta['createTime']) ? { createTime: str(meta['createTime'])! } : {}),
      ...(str(meta['updateTime']) ? { updateTime: str(meta['updateTime'])! } : {}),
      ...(str(meta['endTime']) ? { endTime: str(meta['endTime'])! } : {}),
      ...(stats && typeof stats === 'object' ? { batchStats: Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, String(v)])) } : {}),
    };
  }

  /** The caller's tenant's batch (not deleted), or NOT_FOUND. Accepts `batches/<id>`, `<id>` and `batch_<id>`. */
  async getOwned(caller: Caller, raw: string): Promise<StoredBatch> {
    const id = batchIdFrom(raw.startsWith('batch_') ? raw.slice('batch_'.length) : raw);
    const row = id === undefined ? undefined : await this.#d.db.getBatch(batchNameOf(id));
    if (!row || row.tenantId !== caller.tenant.id || row.deletedAtMs !== null) throw notFound(raw.startsWith('batches/') || raw.startsWith('batch_') ? raw : `batches/${raw}`);
    return row;
  }

  /** One page of the tenant's batches, newest first. */
  async list(caller: Caller, opts: { pageSize: number; after?: string }): Promise<{ batches: StoredBatch[]; more: boolean }> {
    let before: { createdAtMs: number; name: string } | undefined;
    if (opts.after !== undefined) {
      const last = await this.getOwned(caller, opts.after).catch(() => undefined);
      if (!last) throw new GatewayError('INVALID_ARGUMENT', 'Invalid page token.', { param: 'pageToken' });
      before = { createdAtMs: last.createdAtMs, name: last.name };
    }
    const rows = await this.#d.db.listBatches({ tenantId: caller.tenant.id, limit: opts.pageSize + 1, ...(before ? { before } : {}) });
    return { batches: rows.slice(0, opts.pageSize), more: rows.length > opts.pageSize };
  }

  /**
   * Asks Google how the batch stands and keeps it: state, times, stats, its result file
   * (registered for its tenant under the gateway's name). The operation is read as a stream:
   * an inline batch's holds every response. A batch still SUBMITTING, or finished, is as stored.
   */
  async refresh(row: StoredBatch, signal?: AbortSignal): Promise<StoredBatch> {
    const d = this.#d;
    if (!row.googleName || isTerminal(row.state)) return row;
    const project = this.projectOf(row.projectId);
    if (!project.apiKey) return row;
    const answer = await d.google.getBatchStream(project, row.googleName, signal);
    if (!answer.ok) {
      if (answer.status !== 404) throw googleFailure(answer);
      // Gone at Google (deleted there by someone else): nothing of it can be read or metered any more.
      d.logger.error({ batch: row.name, googleName: row.googleName, tenant: row.tenantId }, 'Google no longer knows a batch the gateway follows: marked failed, to be settled with what is known');
      const doc: BatchDoc = { ...batchDoc(row), failure: 'Google no longer knows this batch.' };
      return (await d.db.updateBatch(row.name, { state: 'BATCH_STATE_FAILED', active: false, doc: doc as unknown as Record<string, unknown> }, d.clock.nowMs())) ?? row;
    }
    const reader = new BatchResultReader({ framing: 'operation' });
    await new Promise<void>((resolve, reject) =>
      answer.body.attach({
        data: (chunk) => {
          reader.write(chunk);
          return true;
        },
        end: resolve,
        error: reject,
      }),
    );
    const op = reader.end().operation;
    // Read again just before writing: a cancel or another refresh may have changed the doc.
    const current = (await d.db.getBatch(row.name)) ?? row;
    if (current.settledAtMs !== null || isTerminal(current.state)) return current;
    const doc = batchDoc(current);
    const state = op.state !== undefined && stateRank(op.state) >= stateRank(current.state) ? op.state : current.state;
    const next: BatchDoc = {
      ...doc,
      google: {
        ...doc.google,
        ...(op.createTime ? { createTime: op.createTime } : {}),
        ...(op.updateTime ? { updateTime: op.updateTime } : {}),
        ...(op.endTime ? { endTime: op.endTime } : {}),
        ...(Object.keys(op.batchStats).length > 0 ? { batchStats: op.batchStats } : {}),
        ...(op.error ? { error: op.error } : {}),
      },
      ...(op.inlinedResponses > 0 ? { inlineOutput: true } : {}),
      refreshedAtMs: d.clock.nowMs(),
    };
    if (op.responsesFile && !doc.output) next.output = { responsesFile: await d.files.registerResultFile(current, op.responsesFile) };
    const updated = await d.db.updateBatch(current.name, { state, active: !isTerminal(state), doc: next as unknown as Record<string, unknown> }, d.clock.nowMs());
    if (updated && updated.state !== current.state) d.logger.info({ batch: row.name, from: current.state, to: updated.state }, 'batch state changed');
    return updated ?? current;
  }

  /** Asks Google to cancel (best effort, as at Google); the batch ends CANCELLED with what was done. */
  async cancel(caller: Caller, raw: string): Promise<StoredBatch> {
    const d = this.#d;
    const row = await this.getOwned(caller, raw);
    if (isTerminal(row.state)) return row;
    if (!row.googleName) throw new GatewayError('CONFLICT', `${row.name} is still being submitted; cancel it again in a moment.`);
    const answer = await d.google.cancelBatch(this.projectOf(row.projectId), row.googleName);
    if (!answer.ok) throw googleFailure(answer);
    const doc = batchDoc(row);
    const marked = (await d.db.updateBatch(row.name, { doc: { ...doc, cancelRequestedAtMs: d.clock.nowMs() } as unknown as Record<string, unknown> }, d.clock.nowMs())) ?? row;
    return this.refresh(marked).catch(() => marked);
  }

  /**
   * Deletes the batch for its tenant. Google's delete does not cancel, and deleting there first
   * would lose the results before they are metered: an unsettled batch is hidden now and deleted
   * at Google once the follower has settled it.
   */
  async remove(caller: Caller, raw: string): Promise<void> {
    const d = this.#d;
    const row = await this.getOwned(caller, raw);
    const nowMs = d.clock.nowMs();
    if (row.settledAtMs !== null && row.googleName) {
      const answer = await d.google.deleteBatch(this.projectOf(row.projectId), row.googleName);
      if (!answer.ok && answer.status !== 404) throw googleFailure(answer);
      await d.db.updateBatch(row.name, { deletedAtMs: nowMs }, nowMs);
      return;
    }
    await d.db.updateBatch(row.name, { deletedAtMs: nowMs, doc: { ...batchDoc(row), deleteAtGoogle: true } as unknown as Record<string, unknown> }, nowMs);
  }

  /**
   * A batch left SUBMITTING (its create answer never came): Google's batches are searched for its
   * tag. Found, it is followed like any other; not found, it never reached Google, and its hold
   * and enqueued tokens are released.
   */
  async recoverSubmission(row: StoredBatch): Promise<StoredBatch> {
    const d = this.#d;
    const project = this.projectOf(row.projectId);
    const tag = googleDisplayNameOf(row.name.slice('batches/'.length));
    let pageToken: string | undefined;
    for (let page = 0; page < 50; page++) {
      const answer = await d.google.listBatches(project, pageToken);
      if (!answer.ok) throw googleFailure(answer);
      const ops = Array.isArray(answer.json['operations']) ? (answer.json['operations'] as Array<Record<string, unknown>>) : [];
      for (const op of ops) {
        const meta = (op['metadata'] ?? {}) as Record<string, unknown>;
        if (meta['displayName'] !== tag || typeof op['name'] !== 'string') continue;
        d.logger.warn({ batch: row.name, googleName: op['name'] }, 'batch whose create answer was lost found at Google: following it');
        const doc = batchDoc(row);
        // Adopted as pending: the refresh reads its real state, and with it where its responses are.
        const adopted =
          (await d.db.updateBatch(row.name, { googleName: op['name'], state: 'BATCH_STATE_PENDING', doc: { ...doc, google: this.#googleFields(meta, doc.google) } as unknown as Record<string, unknown> }, d.clock.nowMs())) ?? row;
        return this.refresh(adopted);
      }
      pageToken = str(answer.json['nextPageToken']);
      if (!pageToken) break;
    }
    const doc: BatchDoc = { ...batchDoc(row), failure: 'The batch never reached Google (its create call failed without an answer); nothing was charged.' };
    const nowMs = d.clock.nowMs();
    const failed = (await d.db.updateBatch(row.name, { state: 'BATCH_STATE_FAILED', active: false, doc: doc as unknown as Record<string, unknown> }, nowMs)) ?? row;
    if (await d.db.markBatchSettled(row.name, nowMs, { ...doc, settlement: { records: 0, costNanoUsd: '0', atMs: nowMs } } as unknown as Record<string, unknown>)) {
      await settleHold(d.budgets, doc, 0n);
      d.logger.warn({ batch: row.name }, 'batch never reached Google: released its hold and enqueued tokens');
    }
    return failed;
  }
}

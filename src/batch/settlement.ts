/**
 * Metering a finished batch (#16): every response Google reports, inline or in the result file,
 * read as a stream, becomes one usage record at Batch prices, written straight to the database
 * in chunks (awaiting each, so a slow database slows the read instead of filling memory); then
 * the batch is marked settled and its budget hold replaced by what it cost.
 *
 * Exactly once, across restarts and instances: record ids derive from the batch and the
 * response's index, so a settlement repeated after a crash re-inserts nothing (the insert ignores
 * ids it has); and only the one caller whose markBatchSettled wins settles the budget. A
 * cancelled, failed or expired batch is settled for the responses Google reports done.
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import type { StoredBatch } from '../db/batch-store.js';
import type { ModelResolver } from '../models/resolver.js';
import type { ProjectRuntime } from '../relay/gemini-relay.js';
import type { Clock } from '../time/clock.js';
import type { BudgetService } from '../usage/budget.js';
import type { UsageRecord } from '../usage/record.js';
import { batchDoc, isTerminal, type BatchDoc } from './batch-doc.js';
import { batchUsageRecord, type BatchForRecords } from './batch-pricing.js';
import { settleHold } from './batch-service.js';
import { googleFailure, type GoogleBatchClient } from './google-client.js';
import { BatchResultReader, type ResultItem } from './result-reader.js';

export interface SettlementDeps {
  db: Database;
  google: GoogleBatchClient;
  budgets: BudgetService;
  models: ModelResolver;
  projects: ReadonlyMap<string, ProjectRuntime>;
  clock: Clock;
  logger: Logger;
  /** A settled batch's total, once (metrics). */
  onSettled?: (batch: StoredBatch, records: number, costNanoUsd: bigint) => void;
}

export interface SettleOptions {
  /** Records per database insert (and per keepAlive). Default 500. */
  chunkRecords?: number;
  /** Between inserts of a long settlement: renews the follower's lease. */
  keepAlive?: () => Promise<void>;
  /** Sees the reader after each chunk of Google's answer (tests measure what it holds). */
  observe?: (reader: BatchResultReader) => void;
  /** Aborts the read (shutdown); the settlement is repeated later, recording nothing twice. */
  signal?: AbortSignal;
}

export type SettleOutcome = { settled: true; records: number; costNanoUsd: bigint } | { settled: false; reason: 'not-finished' | 'already-settled' };

const ROUTES: Readonly<Record<BatchDoc['face'], string>> = { native: 'native.batchGenerateContent', openai: 'openai.batches' };

export async function settleBatch(row: StoredBatch, deps: SettlementDeps, opts: SettleOptions = {}): Promise<SettleOutcome> {
  if (row.settledAtMs !== null) return { settled: false, reason: 'already-settled' };
  if (!isTerminal(row.state)) return { settled: false, reason: 'not-finished' };
  const doc = batchDoc(row);
  const model = deps.models.lookup(row.model);
  if (!model) throw new Error(`batch ${row.name} names model ${row.model}, which the model table no longer has`);
  const project = deps.projects.get(row.projectId);
  if (!project?.apiKey) throw new Error(`batch ${row.name} belongs to project ${row.projectId}, which has no Google key now`);
  const endMs = doc.google.endTime ? Date.parse(doc.google.endTime) : deps.clock.nowMs();
  const forRecords: BatchForRecords = {
    name: row.name,
    tenantId: row.tenantId,
    keyId: row.keyId,
    projectId: row.projectId,
    createdAtMs: row.createdAtMs,
    modelAsked: doc.modelAsked,
    route: ROUTES[doc.face],
    imageSize: doc.imageSize,
  };
  const chunkRecords = Math.max(1, opts.chunkRecords ?? 500);
  let pending: UsageRecord[] = [];
  let records = 0;
  let costNanoUsd = 0n;
  const onItem = (item: ResultItem) => {
    const record = batchUsageRecord(forRecords, model, item, Number.isFinite(endMs) ? endMs : deps.clock.nowMs());
    pending.push(record);
    records++;
    costNanoUsd += BigInt(record.costNanoUsd);
  };
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await deps.db.insertUsage(batch);
    await opts.keepAlive?.();
  };

  let lostResults = false;
  const source = doc.output ? 'file' : doc.inlineOutput ? 'inline' : undefined;
  if (source) {
    let answer;
    if (source === 'file') {
      const file = await deps.db.getBatchFile(doc.output!.responsesFile);
      if (!file) throw new Error(`batch ${row.name}: its result file ${doc.output!.responsesFile} is not registered`);
      answer = await deps.google.download(project, file.googleName, opts.signal);
    } else {
      answer = await deps.google.getBatchStream(project, row.googleName!, opts.signal);
    }
    if (!answer.ok) {
      // Gone at Google (files are kept 48 h): what it cost can no longer be known.
      if (answer.status !== 404) throw googleFailure(answer);
      lostResults = true;
      deps.logger.error({ batch: row.name, tenant: row.tenantId }, "a finished batch's responses are gone at Google before they were metered: settled at $0, its hold released");
    } else {
      const reader = new BatchResultReader({ framing: source === 'file' ? 'jsonl' : 'operation', onItem });
      for await (const chunk of answer.body.toReadable()) {
        if (opts.signal?.aborted) throw new Error('settlement stopped: the gateway is shutting down');
        reader.write(chunk as Buffer);
        opts.observe?.(reader);
        if (pending.length >= chunkRecords) await flush();
      }
      const end = reader.end();
      if (end.malformed) deps.logger.warn({ batch: row.name }, "part of a batch's responses could not be read: recorded as upstream errors at $0");
      await flush();
    }
  }

  const nowMs = deps.clock.nowMs();
  const settledDoc: BatchDoc = { ...doc, settlement: { records, costNanoUsd: costNanoUsd.toString(), atMs: nowMs }, ...(lostResults ? { failure: 'Its responses were gone at Google before they were metered.' } : {}) };
  if (!(await deps.db.markBatchSettled(row.name, nowMs, settledDoc as unknown as Record<string, unknown>))) return { settled: false, reason: 'already-settled' };
  // Only the one settlement that marked it gets here: the hold is settled once. A crash between
  // the two steps (one database write, one store call) leaves the hold until it lapses
  // (BATCH_HOLD_MS) and the store's spend short of this batch until its counter is rebuilt from
  // the ledger; the ledger itself, what reports and rebuilds read, is exact either way.
  // (Settling first instead would risk counting the spend twice: the store's settle adds.)
  await settleHold(deps.budgets, doc, costNanoUsd);
  deps.onSettled?.(row, records, costNanoUsd);
  deps.logger.info({ batch: row.name, tenant: row.tenantId, state: row.state, records, costNanoUsd: costNanoUsd.toString() }, 'batch settled');
  if (doc.deleteAtGoogle && row.googleName) {
    const answer = await deps.google.deleteBatch(project, row.googleName).catch(() => undefined);
    if (answer && !answer.ok && answer.status !== 404) deps.logger.warn({ batch: row.name, status: answer.status }, 'could not delete a settled batch its tenant had deleted');
  }
  return { settled: true, records, costNanoUsd };
}

/**
 * The documents kept beside a batch's and a file's columns (#16), and how each face shows them:
 * Google's Operation and File shapes with the gateway's names (docs/google-batch-api.md §2, §4),
 * OpenAI's Batch and FileObject. Pure.
 */
import type { StoredBatch, StoredBatchFile } from '../db/batch-store.js';
import type { RequestStats } from './request-stats.js';

export type BatchState =
  | 'SUBMITTING'
  | 'BATCH_STATE_PENDING'
  | 'BATCH_STATE_RUNNING'
  | 'BATCH_STATE_SUCCEEDED'
  | 'BATCH_STATE_FAILED'
  | 'BATCH_STATE_CANCELLED'
  | 'BATCH_STATE_EXPIRED';

const TERMINAL = new Set(['BATCH_STATE_SUCCEEDED', 'BATCH_STATE_FAILED', 'BATCH_STATE_CANCELLED', 'BATCH_STATE_EXPIRED']);

export const isTerminal = (state: string): boolean => TERMINAL.has(state);

/** States move forward only: a slow answer never takes a batch back. */
const RANK: Readonly<Record<string, number>> = { SUBMITTING: 0, BATCH_STATE_UNSPECIFIED: 0, BATCH_STATE_PENDING: 1, BATCH_STATE_RUNNING: 2 };
export const stateRank = (state: string): number => RANK[state] ?? (TERMINAL.has(state) ? 3 : 0);

/** A budget reservation as stored (amounts as decimal strings: they are bigints). */
export interface StoredReservation {
  tenantId: string;
  id: string;
  amountNanoUsd: string;
  periods: Array<{ keyId?: string; period: 'daily' | 'monthly'; key: string; endsAtMs: number }>;
  remainingNanoUsd: string;
}

export interface BatchDoc {
  face: 'native' | 'openai';
  modelAsked: string;
  /** The tenant's display name (Google's side carries the gateway's tag instead). */
  displayName: string;
  requestCount: number;
  input: { kind: 'inline' } | { kind: 'file'; file: string };
  /** The size every request asked for, when they all asked the same. */
  imageSize: string | null;
  holdNanoUsd: string;
  reservation: StoredReservation | null;
  priority?: string;
  /** What Google last said. */
  google: { createTime?: string; updateTime?: string; endTime?: string; batchStats?: Record<string, string>; error?: { code?: number; message?: string } };
  /** Finished with responses inside the operation (an inline batch). */
  inlineOutput?: boolean;
  /** The result file, by the gateway's name. */
  output?: { responsesFile: string };
  refreshedAtMs?: number;
  cancelRequestedAtMs?: number;
  /** Deleted by its tenant before it was settled: deleted at Google once settled. */
  deleteAtGoogle?: boolean;
  settlement?: { records: number; costNanoUsd: string; atMs: number };
  /** Why it never reached Google. */
  failure?: string;
  openai?: { endpoint: string; inputFileId: string; completionWindow: string; metadata: Record<string, string> | null };
}

export interface FileDoc {
  displayName?: string;
  mimeType: string;
  sizeBytes: number;
  sha256Hash?: string;
  source: 'UPLOADED' | 'GENERATED';
  google: { createTime?: string; expirationTime?: string };
  /** An input file's requests, counted on the way through; or why it is no batch input. */
  stats?: RequestStats;
  /** The size every request asks for, when they all ask the same. */
  imageSize?: string | null;
  statsError?: string;
  /** A result file: the batch whose responses it holds. */
  batch?: string;
  /** An OpenAI batch input: its file name and size as the client sent it, what its lines call. */
  openai?: { filename: string; bytes?: number; endpoint?: string; model?: string; modelAsked?: string; requests?: number };
}

export const batchDoc = (b: StoredBatch): BatchDoc => b.doc as unknown as BatchDoc;
export const fileDoc = (f: StoredBatchFile): FileDoc => f.doc as unknown as FileDoc;

const GOOGLE_TYPE = 'type.googleapis.com/google.ai.generativelanguage.v1beta.';
const iso = (ms: number) => new Date(ms).toISOString();
const idOf = (name: string) => name.slice(name.indexOf('/') + 1);

/** The state a tenant sees: a batch whose create call is still out is pending to it. */
export const shownState = (state: string): string => (state === 'SUBMITTING' ? 'BATCH_STATE_PENDING' : state);

/** Google's Operation for a stored batch, with the gateway's names (no inline responses: those are streamed from Google). */
export function nativeOperationOf(b: StoredBatch): Record<string, unknown> {
  const d = batchDoc(b);
  const state = shownState(b.state);
  const terminal = isTerminal(state);
  const output = d.output ? { responsesFile: d.output.responsesFile } : undefined;
  const stats = d.google.batchStats ?? { requestCount: String(d.requestCount), ...(terminal ? {} : { pendingRequestCount: String(d.requestCount) }) };
  const metadata = {
    '@type': `${GOOGLE_TYPE}GenerateContentBatch`,
    model: `models/${b.model}`,
    displayName: d.displayName,
    ...(d.input.kind === 'file' ? { inputConfig: { fileName: d.input.file } } : {}),
    ...(output ? { output } : {}),
    createTime: d.google.createTime ?? iso(b.createdAtMs),
    ...(d.google.endTime ? { endTime: d.google.endTime } : {}),
    updateTime: d.google.updateTime ?? iso(b.updatedAtMs),
    batchStats: stats,
    state,
    name: b.name,
    ...(d.priority !== undefined ? { priority: d.priority } : {}),
  };
  const error = state === 'BATCH_STATE_FAILED' ? (d.google.error ?? { code: 13, message: d.failure ?? 'The batch failed.' }) : state === 'BATCH_STATE_CANCELLED' ? { code: 1, message: 'The batch was cancelled.' } : undefined;
  return {
    name: b.name,
    metadata,
    ...(terminal ? { done: true } : {}),
    ...(terminal && output ? { response: { '@type': `${GOOGLE_TYPE}GenerateContentBatchOutput`, ...output } } : {}),
    ...(error ? { error } : {}),
  };
}

/** Google's File for a stored file, with the gateway's name and URIs on the gateway. */
export function nativeFileOf(f: StoredBatchFile, baseUrl: string): Record<string, unknown> {
  const d = fileDoc(f);
  const id = idOf(f.name);
  return {
    name: f.name,
    ...(d.displayName !== undefined ? { displayName: d.displayName } : {}),
    mimeType: d.mimeType,
    sizeBytes: String(d.sizeBytes),
    createTime: d.google.createTime ?? iso(f.createdAtMs),
    updateTime: d.google.createTime ?? iso(f.createdAtMs),
    ...(f.expiresAtMs !== null ? { expirationTime: iso(f.expiresAtMs) } : {}),
    ...(d.sha256Hash !== undefined ? { sha256Hash: d.sha256Hash } : {}),
    uri: `${baseUrl}/v1beta/files/${id}`,
    ...(d.source === 'GENERATED' ? { downloadUri: `${baseUrl}/download/v1beta/files/${id}:download?alt=media` } : {}),
    state: 'ACTIVE',
    source: d.source,
  };
}

export type OpenAIBatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

export function openaiStatusOf(b: StoredBatch): OpenAIBatchStatus {
  const d = batchDoc(b);
  switch (b.state) {
    case 'BATCH_STATE_SUCCEEDED':
      return 'completed';
    case 'BATCH_STATE_FAILED':
      return 'failed';
    case 'BATCH_STATE_CANCELLED':
      return 'cancelled';
    case 'BATCH_STATE_EXPIRED':
      return 'expired';
    case 'BATCH_STATE_RUNNING':
      return d.cancelRequestedAtMs !== undefined ? 'cancelling' : 'in_progress';
    default:
      return d.cancelRequestedAtMs !== undefined ? 'cancelling' : 'validating';
  }
}

const seconds = (iso8601: string | undefined): number | null => (iso8601 ? Math.floor(Date.parse(iso8601) / 1000) : null);

/** OpenAI's Batch object for a stored batch (the openai SDK's `Batch`). */
export function openaiBatchOf(b: StoredBatch): Record<string, unknown> {
  const d = batchDoc(b);
  const status = openaiStatusOf(b);
  const stats = d.google.batchStats ?? {};
  const count = (k: string) => Number(stats[k] ?? 0) || 0;
  const ended = seconds(d.google.endTime) ?? (isTerminal(b.state) ? Math.floor(b.updatedAtMs / 1000) : null);
  const createdAt = Math.floor(b.createdAtMs / 1000);
  return {
    id: `batch_${idOf(b.name)}`,
    object: 'batch',
    endpoint: d.openai?.endpoint ?? '/v1/images/generations',
    model: b.model,
    errors: d.failure ? { object: 'list', data: [{ code: 'batch_failed', message: d.failure, param: null, line: null }] } : null,
    input_file_id: d.openai?.inputFileId ?? (d.input.kind === 'file' ? `file-${idOf(d.input.file)}` : null),
    completion_window: d.openai?.completionWindow ?? '24h',
    status,
    output_file_id: d.output ? `file-${idOf(d.output.responsesFile)}` : null,
    error_file_id: null,
    created_at: createdAt,
    in_progress_at: b.state === 'BATCH_STATE_RUNNING' || isTerminal(b.state) ? (seconds(d.google.updateTime) ?? createdAt) : null,
    // Google expires a batch not done within 48 hours (docs/google-batch-api.md §5).
    expires_at: createdAt + 48 * 3600,
    finalizing_at: null,
    completed_at: status === 'completed' ? ended : null,
    failed_at: status === 'failed' ? ended : null,
    expired_at: status === 'expired' ? ended : null,
    cancelling_at: d.cancelRequestedAtMs !== undefined ? Math.floor(d.cancelRequestedAtMs / 1000) : null,
    cancelled_at: status === 'cancelled' ? ended : null,
    request_counts: { total: count('requestCount') || d.requestCount, completed: count('successfulRequestCount'), failed: count('failedRequestCount') },
    metadata: d.openai?.metadata ?? null,
  };
}

/** OpenAI's FileObject for a stored file. */
export function openaiFileOf(f: StoredBatchFile): Record<string, unknown> {
  const d = fileDoc(f);
  return {
    id: `file-${idOf(f.name)}`,
    object: 'file',
    bytes: d.openai?.bytes ?? d.sizeBytes,
    created_at: Math.floor(f.createdAtMs / 1000),
    filename: d.openai?.filename ?? d.displayName ?? idOf(f.name),
    purpose: f.purpose === 'batch_output' ? 'batch_output' : f.purpose === 'batch' ? 'batch' : 'user_data',
    status: 'processed',
    ...(f.expiresAtMs !== null ? { expires_at: Math.floor(f.expiresAtMs / 1000) } : {}),
    status_details: null,
  };
}

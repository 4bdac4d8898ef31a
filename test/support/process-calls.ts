/**
 * Config and calls shared by the process-level fault tests (test/e2e/process-*.test.ts and the
 * soak): one tenant, one project with limits high enough that quota never refuses a test's
 * traffic, and one helper per route that says which request id the gateway will record.
 */
import { hashKey } from '../../src/tenants/keys.js';
import { tinyPng } from '../mock-google/images.js';
import { multipartBody, rawRequest, type RawAnswer, type RawRequestOptions } from './fault-http.js';

export const GOOGLE_KEY = 'process-google-key';
export const TENANT_KEY = 'process-tenant-key';
/** At least 32 characters: the gateway refuses a shorter ADMIN_TOKEN at start (#12). */
export const ADMIN_TOKEN = 'process-admin-token-0123456789abcdef';

export interface ProcessConfig {
  upstreamUrl: string;
  retries?: number;
  timeoutMs?: number;
  onFailure?: 'local' | 'deny';
  shutdownGraceMs?: number;
  bodyLimitBytes?: number;
  /** openai.answerMemoryMB: 1 sends every answer past 1 MiB to a spool file. */
  answerMemoryMB?: number;
}

const HIGH = '{ rpm: 1000000, tpm: 1000000000, rpd: 100000000, ipm: 1000000 }';

/** A gateway config for a child process; `$DB_PATH` is filled in by startGatewayProcess. */
export function processConfigYaml(c: ProcessConfig): string {
  return `
upstream: { baseUrl: "${c.upstreamUrl}", timeoutMs: ${c.timeoutMs ?? 30_000}, retries: ${c.retries ?? 0} }
defaultModel: nano-banana-pro
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier3
    limits:
      gemini-3-pro-image: ${HIGH}
      gemini-nano-banana-2.1: ${HIGH}
      gemini-3.1-flash-lite-image: ${HIGH}
      gemini-3.1-flash-image: ${HIGH}
tenants:
  - id: faults
    project: default
    keys: ["${hashKey(TENANT_KEY)}"]
database: { path: "$DB_PATH" }
store: { onFailure: ${c.onFailure ?? 'local'} }
server: { shutdownGraceMs: ${c.shutdownGraceMs ?? 5_000}, bodyLimitBytes: ${c.bodyLimitBytes ?? 64 * 1024 * 1024} }
${c.answerMemoryMB !== undefined ? `openai: { answerMemoryMB: ${c.answerMemoryMB} }` : ''}
`;
}

let sequence = 0;
/** A request id the gateway accepts from the client and writes into each usage record. */
export function newRequestId(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9._:-]/g, '-')}-${process.pid}-${++sequence}`;
}

export type NativeAction = 'generateContent' | 'streamGenerateContent?alt=sse' | 'streamGenerateContent';

export interface CallOptions extends Omit<RawRequestOptions, 'body' | 'headers' | 'method'> {
  requestId: string;
  headers?: Record<string, string>;
}

export function nativeBody(opts: { imageSize?: string; prompt?: string } = {}): string {
  return JSON.stringify({
    contents: [{ parts: [{ text: opts.prompt ?? 'a banana on a fault line' }] }],
    ...(opts.imageSize ? { generationConfig: { imageConfig: { imageSize: opts.imageSize } } } : {}),
  });
}

export function nativeCall(baseUrl: string, action: NativeAction, o: CallOptions & { model?: string; body?: string }): Promise<RawAnswer> {
  const { requestId, headers, model, body, ...raw } = o;
  return rawRequest(`${baseUrl}/v1beta/models/${model ?? 'nano-banana-pro'}:${action}`, {
    ...raw,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY, 'x-request-id': requestId, ...headers },
    body: body ?? nativeBody(),
  });
}

export function openaiGenerations(baseUrl: string, o: CallOptions & { n?: number; model?: string; size?: string; prompt?: string }): Promise<RawAnswer> {
  const { requestId, headers, n, model, size, prompt, ...raw } = o;
  return rawRequest(`${baseUrl}/v1/images/generations`, {
    ...raw,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}`, 'x-request-id': requestId, ...headers },
    body: JSON.stringify({ model: model ?? 'nano-banana-pro', prompt: prompt ?? 'a banana on a fault line', n: n ?? 1, ...(size ? { size } : {}) }),
  });
}

/** POST /v1/chat/completions asking for `n` images (OpenRouter's modalities field). */
export function openaiChat(baseUrl: string, o: CallOptions & { n?: number; model?: string; prompt?: string }): Promise<RawAnswer> {
  const { requestId, headers, n, model, prompt, ...raw } = o;
  return rawRequest(`${baseUrl}/v1/chat/completions`, {
    ...raw,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}`, 'x-request-id': requestId, ...headers },
    body: JSON.stringify({ model: model ?? 'nano-banana-pro', messages: [{ role: 'user', content: prompt ?? 'a banana on a fault line' }], modalities: ['image', 'text'], n: n ?? 1 }),
  });
}

export function editsForm(o: { n?: number; model?: string; prompt?: string } = {}): { body: Buffer; contentType: string } {
  const png = Buffer.from(tinyPng().base64, 'base64');
  return multipartBody(
    { model: o.model ?? 'nano-banana-pro', prompt: o.prompt ?? 'make the banana blue', n: String(o.n ?? 1) },
    [{ field: 'image', filename: 'banana.png', contentType: 'image/png', data: png }],
  );
}

export function openaiEdits(baseUrl: string, o: CallOptions & { n?: number; model?: string }): Promise<RawAnswer> {
  const { requestId, headers, n, model, ...raw } = o;
  const form = editsForm({ n: n ?? 1, ...(model ? { model } : {}) });
  return rawRequest(`${baseUrl}/v1/images/edits`, {
    ...raw,
    method: 'POST',
    headers: { 'content-type': form.contentType, authorization: `Bearer ${TENANT_KEY}`, 'x-request-id': requestId, ...headers },
    body: form.body,
  });
}

/** Google's error envelope, as the native face must answer when it answers with an error. */
export function isGoogleError(json: unknown, status: number): boolean {
  const e = (json as { error?: Record<string, unknown> } | undefined)?.error;
  return !!e && e['code'] === status && typeof e['status'] === 'string' && typeof e['message'] === 'string';
}

/** OpenAI's error shape: message, type, param, code, all present. */
export function isOpenAIError(json: unknown): boolean {
  const e = (json as { error?: Record<string, unknown> } | undefined)?.error;
  return !!e && typeof e['message'] === 'string' && e['message'] !== '' && typeof e['type'] === 'string' && 'param' in e && 'code' in e;
}

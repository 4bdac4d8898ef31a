import type { ModelSpec } from '../../models/catalog.js';

/** A served model in Google's `models.get` shape (google-api.md §6). */
export function googleModelResource(m: ModelSpec): Record<string, unknown> {
  return {
    name: `models/${m.id}`,
    version: m.version,
    displayName: m.displayName,
    description: m.description,
    inputTokenLimit: m.inputTokenLimit,
    outputTokenLimit: m.outputTokenLimit,
    // Only what the gateway serves (streamGenerateContent is generateContent's, as at Google).
    supportedGenerationMethods: m.batch ? ['generateContent', 'countTokens', 'batchGenerateContent'] : ['generateContent', 'countTokens'],
    temperature: 1,
    topP: 0.95,
    maxTemperature: 2,
    thinking: m.thinking,
  };
}

/** `models.list` with Google's paging: pageToken is the offset, opaque to clients. */
export function googleModelList(models: readonly ModelSpec[], pageSizeParam: unknown, pageTokenParam: unknown): Record<string, unknown> {
  const pageSize = Math.min(1000, Math.max(1, Number.parseInt(String(pageSizeParam ?? '50'), 10) || 50));
  const offset = typeof pageTokenParam === 'string' && pageTokenParam ? Number.parseInt(Buffer.from(pageTokenParam, 'base64url').toString(), 10) || 0 : 0;
  const page = models.slice(offset, offset + pageSize);
  const next = offset + pageSize < models.length ? Buffer.from(String(offset + pageSize)).toString('base64url') : undefined;
  return { models: page.map(googleModelResource), ...(next ? { nextPageToken: next } : {}) };
}

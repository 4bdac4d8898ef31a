import type { VertexConfig } from '../config/schema.js';
import type { UpstreamClient, UpstreamCredential } from '../upstream/client.js';
import type { AccessTokens } from './access-tokens.js';

/** The model methods a project's calls use. */
export type ModelMethod = 'generateContent' | 'streamGenerateContent' | 'countTokens';

/** Where one model call goes and how it is authenticated. */
export interface ModelCall {
  upstream: UpstreamClient;
  /** Path and query, appended to the upstream's base URL. */
  path: string;
  credential: UpstreamCredential;
}

/** Vertex AI's host for a location: regional, or the global endpoint's own. */
export function vertexBaseUrl(location: string): string {
  return location === 'global' ? 'https://aiplatform.googleapis.com' : `https://${location}-aiplatform.googleapis.com`;
}

/**
 * A Vertex AI project's model calls (#17.3): Google's publisher models under the project and
 * location, `v1` whatever version the tenant's client used (the Gemini API's v1beta and v1 take
 * the same generateContent body; Vertex's v1 is its stable surface), with the project's access
 * token. The request and answer bodies are the Gemini API's, byte for byte
 * (reference/google-api.md notes no difference in their shape, only a few Vertex-only fields).
 */
export class VertexEndpoint {
  readonly project: string;
  readonly location: string;
  readonly upstream: UpstreamClient;
  readonly #prefix: string;
  readonly #credential: UpstreamCredential;

  constructor(config: Pick<VertexConfig, 'project' | 'location'>, upstream: UpstreamClient, tokens: AccessTokens) {
    this.project = config.project;
    this.location = config.location;
    this.upstream = upstream;
    this.#prefix = `/v1/projects/${config.project}/locations/${config.location}/publishers/google/models/`;
    this.#credential = { accessToken: () => tokens.get() };
  }

  modelCall(modelId: string, method: ModelMethod, sse: boolean): ModelCall {
    return { upstream: this.upstream, path: `${this.#prefix}${modelId}:${method}${sse ? '?alt=sse' : ''}`, credential: this.#credential };
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

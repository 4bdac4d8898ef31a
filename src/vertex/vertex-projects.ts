import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { GatewayConfig, VertexConfig } from '../config/schema.js';
import type { ProjectRefusal } from '../gemini/errors.js';
import type { Clock } from '../time/clock.js';
import type { UpstreamClient } from '../upstream/client.js';
import { AccessTokens } from './access-tokens.js';
import { googleTokenSource, serviceAccountProblem } from './google-token-source.js';
import { VertexEndpoint, vertexBaseUrl } from './vertex-endpoint.js';

export interface VertexEndpointDeps {
  /** The gateway's Gemini API client: the endpoint gets a sibling for its own host. */
  upstream: UpstreamClient;
  clock: Clock;
  logger: Logger;
  onRefused?: (projectId: string, refusal: ProjectRefusal) => void;
}

/** A Vertex AI project's endpoint: its host (or `vertex.baseUrl`), and its tokens from its credentials. */
export function createVertexEndpoint(projectId: string, vertex: VertexConfig, deps: VertexEndpointDeps): VertexEndpoint {
  const tokens = new AccessTokens({
    projectId,
    fetch: googleTokenSource({
      ...(vertex.credentials !== undefined ? { keyFile: vertex.credentials } : {}),
      ...(vertex.tokenUrl !== undefined ? { tokenUrl: vertex.tokenUrl } : {}),
    }),
    clock: deps.clock,
    logger: deps.logger,
    ...(deps.onRefused ? { onRefused: (refusal: ProjectRefusal) => deps.onRefused!(projectId, refusal) } : {}),
  });
  return new VertexEndpoint(vertex, deps.upstream.forBaseUrl(vertex.baseUrl ?? vertexBaseUrl(vertex.location)), tokens);
}

/**
 * Every Vertex AI project's key file, read once at start: a wrong path or a file that is not a
 * service-account key stops the start with the field that names it, rather than failing the
 * first call. (Application Default Credentials are found by the library at the first token.)
 */
export function checkVertexCredentials(config: Readonly<GatewayConfig>): void {
  const problems: string[] = [];
  config.projects.forEach((p, i) => {
    const file = p.vertex?.credentials;
    if (file === undefined) return;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      problems.push(`projects[${i}].vertex.credentials: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      return;
    }
    const problem = serviceAccountProblem(text);
    if (problem) problems.push(`projects[${i}].vertex.credentials: ${file} ${problem}`);
  });
  if (problems.length > 0) throw new ConfigError(`config: ${problems.join('; ')}`);
}

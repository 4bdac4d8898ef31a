import type { UpstreamClient } from '../upstream/client.js';
import type { ModelCall, ModelMethod } from '../vertex/vertex-endpoint.js';
import type { ProjectRuntime } from './gemini-relay.js';

/**
 * Where a project's model call goes: a Vertex AI project's own endpoint (#17.3), else the Gemini
 * API through the gateway's upstream client with the project's key, in the version the tenant's
 * client used. The one place that tells the two kinds apart for a call.
 */
export function modelCallOf(project: ProjectRuntime, gemini: UpstreamClient, call: { apiVersion: string; modelId: string; method: ModelMethod; sse: boolean }): ModelCall {
  if (project.vertex) return project.vertex.modelCall(call.modelId, call.method, call.sse);
  return {
    upstream: gemini,
    path: `/${call.apiVersion}/models/${call.modelId}:${call.method}${call.sse ? '?alt=sse' : ''}`,
    credential: { apiKey: project.apiKey },
  };
}

/** Whether calls can be made for the project: a Vertex AI project's token is asked for per call; a Gemini API project needs its key. */
export function hasCredentials(project: ProjectRuntime): boolean {
  return project.vertex !== undefined || project.apiKey !== '';
}

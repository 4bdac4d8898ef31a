import type { CallTally } from '../relay/gemini-relay.js';
import type { Caller } from '../tenants/registry.js';
import type { CredentialSource } from '../tenants/credentials.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on tenant routes. */
    caller: Caller | null;
    credentialSource: CredentialSource | null;
    /** Canonical model of the call (the one served), for the request log line. */
    modelId: string | null;
    /** The model name the client asked for, as it wrote it. */
    modelAsked: string | null;
    /** What the request's upstream calls added up to: attempts, tokens, images, cost. */
    upstreamTally: CallTally | null;
  }
}

export {};

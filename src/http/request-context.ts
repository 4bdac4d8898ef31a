import type { Caller } from '../tenants/registry.js';
import type { CredentialSource } from '../tenants/credentials.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on tenant routes. */
    caller: Caller | null;
    credentialSource: CredentialSource | null;
    /** Canonical model of the call, for the request log line. */
    modelId: string | null;
  }
}

export {};

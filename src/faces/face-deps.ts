import type { GatewayConfig } from '../config/schema.js';
import type { ModelResolver } from '../models/resolver.js';
import type { GeminiRelay, ProjectRuntime } from '../relay/gemini-relay.js';
import type { AuthFailureLimiter } from '../tenants/auth-hook.js';
import type { TenantRegistry } from '../tenants/registry.js';
import type { Clock } from '../time/clock.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { Database } from '../db/database.js';
import type { GatewayError } from '../errors/gateway-error.js';

/** What a face plugin needs: handed in as plugin options, never imported as module state. */
export interface FaceDeps {
  config: Readonly<GatewayConfig>;
  clock: Clock;
  relay: GeminiRelay;
  upstream: UpstreamClient;
  models: ModelResolver;
  tenants: TenantRegistry;
  projects: ReadonlyMap<string, ProjectRuntime>;
  authLimiter: AuthFailureLimiter;
  db: Database;
  /** Every error a face answers with, for metrics. */
  onError: (err: GatewayError) => void;
}

import type { GatewayConfig } from '../config/schema.js';
import type { ModelResolver } from '../models/resolver.js';
import type { GeminiRelay, ProjectRuntime } from '../relay/gemini-relay.js';
import type { AuthFailureLimiter } from '../tenants/auth-hook.js';
import type { TenantRegistry } from '../tenants/registry.js';
import type { Clock } from '../time/clock.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { Database } from '../db/database.js';
import type { GatewayError } from '../errors/gateway-error.js';
import type { BudgetService } from '../usage/budget.js';
import type { UsageLedger } from '../usage/ledger.js';
import type { HostedImages } from '../images/hosted-images.js';
import type { BatchRuntime } from '../batch/runtime.js';

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
  /** GET /v1/budget reads the caller's budgets. */
  budgets: BudgetService;
  /** GET /v1/usage/requests/{id} finds records not yet flushed to the database here. */
  ledger: UsageLedger;
  /** Every error a face answers with, for metrics. */
  onError: (err: GatewayError) => void;
  /** `response_format: "url"` keeps images here (#14.4); absent: such requests get a 400. */
  hostedImages?: HostedImages;
  /** Google batches and files (#16); absent: their routes answer 501. */
  batches?: BatchRuntime;
}

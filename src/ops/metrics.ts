import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one gateway instance. A registry per app: no global state. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'face' | 'status'>;
  readonly requestDuration: Histogram<'face'>;
  readonly upstreamCalls: Counter<'model' | 'status'>;
  readonly costNanoUsd: Counter<'tenant' | 'model'>;
  readonly errors: Counter<'code'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'nanogate_' });
    this.requests = new Counter({ name: 'nanogate_requests_total', help: 'HTTP requests answered', labelNames: ['face', 'status'], registers: [this.registry] });
    this.requestDuration = new Histogram({
      name: 'nanogate_request_duration_seconds',
      help: 'Time to answer, headers to end',
      labelNames: ['face'],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160],
      registers: [this.registry],
    });
    this.upstreamCalls = new Counter({ name: 'nanogate_upstream_calls_total', help: 'Calls made to Google', labelNames: ['model', 'status'], registers: [this.registry] });
    this.costNanoUsd = new Counter({ name: 'nanogate_cost_nano_usd_total', help: 'Cost of upstream calls in nano-USD', labelNames: ['tenant', 'model'], registers: [this.registry] });
    this.errors = new Counter({ name: 'nanogate_errors_total', help: 'Error answers by gateway error code (refusals included)', labelNames: ['code'], registers: [this.registry] });
  }
}

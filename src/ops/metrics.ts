import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** prom-client's event-loop delay gauges, replaced below. */
const LAG_STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/** Prometheus metrics of one gateway instance. A registry per app: no global state. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'face' | 'status'>;
  readonly requestDuration: Histogram<'face'>;
  readonly upstreamCalls: Counter<'model' | 'status'>;
  readonly upstreamAttempts: Counter<'model' | 'outcome'>;
  readonly projectRefusals: Counter<'project' | 'reason'>;
  readonly costUsd: Counter<'tenant' | 'model'>;
  /** Calls that cost more than their budget hold (#13.1), and by how much in USD. */
  readonly budgetOvershoots: Counter<'tenant' | 'model'>;
  readonly budgetOvershootUsd: Counter<'tenant' | 'model'>;
  readonly errors: Counter<'code'>;
  /** Metered calls per Google project (#17.4: which project of a pool served what). */
  readonly projectCalls: Counter<'project' | 'model' | 'status'>;
  /** Calls Google refused on one pool project and tried again on another (#17.2). */
  readonly poolSpills: Counter<'from' | 'to' | 'model' | 'status'>;
  /** Current disagreements between the model table and Google (src/models/model-findings.ts), by kind. */
  readonly modelCheckFindings: Gauge<'project' | 'kind'>;
  readonly modelChecks: Counter<'project' | 'outcome'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: 'nanogate_' });
      replaceEventLoopLagGauges(this.registry);
    }
    this.requests = new Counter({ name: 'nanogate_requests_total', help: 'HTTP requests answered', labelNames: ['face', 'status'], registers: [this.registry] });
    this.requestDuration = new Histogram({
      name: 'nanogate_request_duration_seconds',
      help: 'Time to answer, headers to end',
      labelNames: ['face'],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160],
      registers: [this.registry],
    });
    this.upstreamCalls = new Counter({
      name: 'nanogate_upstream_calls_total',
      help: 'Calls to Google by the status that ended them (a call is one or more attempts)',
      labelNames: ['model', 'status'],
      registers: [this.registry],
    });
    this.upstreamAttempts = new Counter({
      name: 'nanogate_upstream_attempts_total',
      help: "Attempts sent to Google, retries included (each counts against the project's RPM): HTTP status, timeout, connection_error or aborted",
      labelNames: ['model', 'outcome'],
      registers: [this.registry],
    });
    this.projectRefusals = new Counter({
      name: 'nanogate_upstream_project_refusals_total',
      help: "Answers in which Google refused the gateway's own project (key invalid, permission denied, prepaid credit depleted)",
      labelNames: ['project', 'reason'],
      registers: [this.registry],
    });
    this.costUsd = new Counter({ name: 'nanogate_cost_usd_total', help: 'Cost of upstream calls in USD', labelNames: ['tenant', 'model'], registers: [this.registry] });
    this.budgetOvershoots = new Counter({
      name: 'nanogate_budget_overshoots_total',
      help: 'Calls under a budget that cost more than their hold (wrote more text and thinking than their allowance): flagged over_hold',
      labelNames: ['tenant', 'model'],
      registers: [this.registry],
    });
    this.budgetOvershootUsd = new Counter({
      name: 'nanogate_budget_overshoot_usd_total',
      help: 'USD those calls cost beyond their holds',
      labelNames: ['tenant', 'model'],
      registers: [this.registry],
    });
    this.projectCalls = new Counter({
      name: 'nanogate_project_calls_total',
      help: 'Metered upstream calls by the Google project that took them, model and status',
      labelNames: ['project', 'model', 'status'],
      registers: [this.registry],
    });
    this.poolSpills = new Counter({
      name: 'nanogate_pool_spills_total',
      help: 'Calls refused by Google on one pool project (429, or 503 after retries) and tried again on another',
      labelNames: ['from', 'to', 'model', 'status'],
      registers: [this.registry],
    });
    this.errors = new Counter({ name: 'nanogate_errors_total', help: 'Error answers by gateway error code (refusals included)', labelNames: ['code'], registers: [this.registry] });
    this.modelCheckFindings = new Gauge({
      name: 'nanogate_model_check_findings',
      help: "Differences between the model table and Google now: not_listed, not_in_table, token_limits (Google's model list), model_status (Google's modelStatus on answers)",
      labelNames: ['project', 'kind'],
      registers: [this.registry],
    });
    this.modelChecks = new Counter({
      name: 'nanogate_model_checks_total',
      help: "Checks of the model table against Google's model list, by project and outcome (ok, failed)",
      labelNames: ['project', 'outcome'],
      registers: [this.registry],
    });
  }
}

/**
 * prom-client reads its event-loop delay histogram and resets it at every scrape, so a scrape
 * that finds no sample since the last one (two scrapers, a scrape at start: samples come every
 * 10 ms) reports NaN for mean and stddev and 9.2e9 s for min (#12). These gauges keep the last
 * window that had samples instead, and reset only after reading one.
 */
function replaceEventLoopLagGauges(registry: Registry): void {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const last: Record<(typeof LAG_STATS)[number], number> = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
  const sample = () => {
    if (histogram.count === 0) return;
    Object.assign(last, {
      min: histogram.min / 1e9,
      max: histogram.max / 1e9,
      mean: histogram.mean / 1e9,
      stddev: histogram.stddev / 1e9,
      p50: histogram.percentile(50) / 1e9,
      p90: histogram.percentile(90) / 1e9,
      p99: histogram.percentile(99) / 1e9,
    });
    histogram.reset();
  };
  for (const stat of LAG_STATS) {
    const name = `nanogate_nodejs_eventloop_lag_${stat}_seconds`;
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: `Event loop delay, ${stat}, over the time since the last scrape (the previous window's if no sample came since)`,
      registers: [registry],
      collect() {
        // The first gauge of a scrape takes the window; the others read the same one.
        if (stat === 'min') sample();
        this.set(last[stat]);
      },
    });
  }
}

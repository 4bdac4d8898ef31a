import { GatewayError } from '../errors/gateway-error.js';
import { systemClock, type Clock } from '../time/clock.js';
import { isDeprecated, isRetired, type ModelSpec } from './catalog.js';
import type { ModelTable } from './model-table.js';

/** What a request naming a model past its shutdown gets: its replacement, or a 404 naming it. */
export type RetiredPolicy = 'redirect' | 'refuse';

/** A name resolved at one instant: the model it names, and the model that serves it. */
export interface ModelRoute {
  /** The model the name names (an alias's target, a canonical id as given). */
  readonly asked: ModelSpec;
  /** What Google is sent: `asked`, or the end of its replacement chain once it is retired. */
  readonly served: ModelSpec;
  readonly redirected: boolean;
}

export interface ResolverOptions {
  table: ModelTable;
  /** Config aliases: added to the table's, or re-pointing one of them. */
  aliases?: Readonly<Record<string, string>>;
  retired?: RetiredPolicy;
  clock?: Clock;
}

const PREFIXES = ['models/', 'google/'];

/**
 * Turns whatever a client calls a model into the model Google is sent, at the time of the call:
 * the canonical id, `models/<id>`, `google/<id>`, and aliases (the table's and the config's) in
 * any letter case. A model past its shutdown instant is served by its replacement (following a
 * chain A -> B -> C to the first that is not retired) or refused, as `models.retired` says; the
 * switch happens at that instant, without a restart. Lookups are a Map.get or two.
 */
export class ModelResolver {
  readonly #table: ModelTable;
  readonly #byName = new Map<string, ModelSpec>();
  readonly #aliasNames: readonly string[];
  readonly #retired: RetiredPolicy;
  readonly #clock: Clock;

  constructor(opts: ResolverOptions) {
    this.#table = opts.table;
    this.#retired = opts.retired ?? 'redirect';
    this.#clock = opts.clock ?? systemClock;
    const aliases = new Map<string, string>();
    for (const m of opts.table.models) for (const a of m.aliases) aliases.set(a, m.id);
    for (const [alias, target] of Object.entries(opts.aliases ?? {})) aliases.set(alias.toLowerCase(), target);
    for (const m of opts.table.models) this.#add(m.id, m);
    for (const [alias, target] of aliases) {
      const spec = opts.table.byId.get(target);
      if (!spec) throw new Error(`alias ${alias} points at unknown model ${target}`);
      this.#add(alias, spec);
    }
    this.#aliasNames = [...aliases.keys()].sort();
  }

  #add(name: string, spec: ModelSpec): void {
    this.#byName.set(name, spec);
    for (const p of PREFIXES) this.#byName.set(`${p}${name}`, spec);
  }

  /** The model a name names, whatever its lifecycle. */
  lookup(name: string): ModelSpec | undefined {
    return this.#byName.get(name) ?? this.#byName.get(name.toLowerCase());
  }

  /**
   * The model to call for `name` at `nowMs`, or undefined for an unknown name. Throws
   * MODEL_NOT_FOUND, naming the replacement, for a retired model under `refuse` (or one with
   * no replacement to go to).
   */
  route(name: string, nowMs: number = this.#clock.nowMs()): ModelRoute | undefined {
    const asked = this.lookup(name);
    if (!asked) return undefined;
    if (!isRetired(asked, nowMs)) return { asked, served: asked, redirected: false };
    const shutdown = new Date(asked.lifecycle.shutdownAtMs!).toISOString().slice(0, 10);
    let served: ModelSpec | undefined = asked;
    while (served && isRetired(served, nowMs)) served = served.lifecycle.replacement ? this.#table.byId.get(served.lifecycle.replacement) : undefined;
    if (!served) {
      throw new GatewayError('MODEL_NOT_FOUND', `models/${asked.id} was shut down by Google on ${shutdown} and has no replacement. Served models: ${this.servedNames(nowMs).join(', ')}.`, {
        servedModels: this.servedNames(nowMs),
      });
    }
    if (this.#retired === 'refuse') {
      throw new GatewayError('MODEL_NOT_FOUND', `models/${asked.id} was shut down by Google on ${shutdown}; use ${served.id} instead.`, {
        servedModels: this.servedNames(nowMs),
      });
    }
    return { asked, served, redirected: true };
  }

  /** route(name).served: the model a call naming `name` goes to now. */
  resolve(name: string): ModelSpec | undefined {
    return this.route(name)?.served;
  }

  /** Canonical ids of the models not retired at `nowMs`, then every alias: what an unknown-model error lists. */
  servedNames(nowMs: number = this.#clock.nowMs()): readonly string[] {
    return [...this.canonicalModels(nowMs).map((m) => m.id), ...this.#aliasNames];
  }

  /** The models not retired at `nowMs`, in table order. */
  canonicalModels(nowMs: number = this.#clock.nowMs()): readonly ModelSpec[] {
    return this.#table.models.filter((m) => !isRetired(m, nowMs));
  }

  /** Every model of the table, retired ones included. */
  allModels(): readonly ModelSpec[] {
    return this.#table.models;
  }

  /** The aliases that resolve to `model` (the table's and the config's). */
  aliasesOf(model: ModelSpec): string[] {
    return this.#aliasNames.filter((a) => this.#byName.get(a) === model);
  }
}

/**
 * RFC 9745 `Deprecation`, RFC 8594 `Sunset` and a `Link` to the successor, for an answer to a
 * request that named a deprecated or retired model; empty otherwise.
 */
export function lifecycleHeaders(route: ModelRoute, nowMs: number): Record<string, string> {
  const { asked } = route;
  if (!route.redirected && !isDeprecated(asked, nowMs)) return {};
  const l = asked.lifecycle;
  const headers: Record<string, string> = {};
  const deprecatedAt = l.deprecatedAtMs ?? l.shutdownAtMs;
  headers['deprecation'] = deprecatedAt !== undefined ? `@${Math.floor(deprecatedAt / 1000)}` : `@${Math.floor(nowMs / 1000)}`;
  if (l.shutdownAtMs !== undefined) headers['sunset'] = new Date(l.shutdownAtMs).toUTCString();
  const successor = route.redirected ? route.served.id : l.replacement;
  if (successor) headers['link'] = `</v1beta/models/${successor}>; rel="successor-version"`;
  return headers;
}

import { BUILTIN_ALIASES, MODELS, type ModelSpec } from './catalog.js';

/**
 * Turns whatever a client calls a model into the canonical spec. Accepted for every served
 * model: the canonical id, `models/<id>`, `google/<id>`; aliases (built-in and configured)
 * in any letter case. Built once at start: lookups are one Map.get.
 */
export class ModelResolver {
  readonly #byName = new Map<string, ModelSpec>();
  readonly #served: readonly string[];

  constructor(configAliases: Readonly<Record<string, string>> = {}, catalog: readonly ModelSpec[] = MODELS) {
    const byId = new Map(catalog.map((m) => [m.id, m]));
    for (const m of catalog) {
      for (const name of [m.id, `models/${m.id}`, `google/${m.id}`]) this.#byName.set(name, m);
    }
    const aliases = { ...BUILTIN_ALIASES };
    for (const [alias, target] of Object.entries(configAliases)) aliases[alias.toLowerCase()] = target;
    const aliasNames: string[] = [];
    for (const [alias, target] of Object.entries(aliases)) {
      const spec = byId.get(target);
      if (!spec) throw new Error(`alias ${alias} points at unknown model ${target}`);
      const key = alias.toLowerCase();
      for (const name of [key, `models/${key}`, `google/${key}`]) this.#byName.set(name, spec);
      aliasNames.push(key);
    }
    this.#served = [...catalog.map((m) => m.id), ...aliasNames.sort()];
  }

  resolve(name: string): ModelSpec | undefined {
    return this.#byName.get(name) ?? this.#byName.get(name.toLowerCase());
  }

  /** Canonical ids first, then aliases: the list an unknown-model error shows. */
  servedNames(): readonly string[] {
    return this.#served;
  }

  canonicalModels(): readonly ModelSpec[] {
    const seen = new Set<ModelSpec>();
    for (const m of this.#byName.values()) seen.add(m);
    return [...seen];
  }
}

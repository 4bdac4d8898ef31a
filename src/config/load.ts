import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { loadModelTable, ModelTableError, type ModelTable } from '../models/model-table.js';
import { configSchema, type GatewayConfig } from './schema.js';

/** A config problem, with the field path it concerns: printed as one line, never a stack. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** `${VAR}` and `${VAR:-default}` from the environment (contract §2). `$${` escapes a literal. */
export function substituteEnv(text: string, env: Env): string {
  return text.replace(/\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, escaped, name: string, fallback?: string) => {
    if (escaped) return whole.slice(1);
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    return fallback ?? '';
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`).join('; ');
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/** Cross-field checks the schema cannot express: references between sections and to the model table. */
function checkReferences(config: GatewayConfig, table: ModelTable): string[] {
  const problems: string[] = [];
  const modelIds = new Set(table.models.map((m) => m.id));
  const projectIds = new Set<string>();
  config.projects.forEach((p, i) => {
    if (projectIds.has(p.id)) problems.push(`projects[${i}].id: duplicate project id ${p.id}`);
    projectIds.add(p.id);
    for (const model of Object.keys(p.limits ?? {})) {
      if (!modelIds.has(model)) problems.push(`projects[${i}].limits.${model}: unknown model (use a canonical id: ${[...modelIds].join(', ')})`);
    }
  });
  const poolIds = new Set<string>();
  const pooledProjects = new Map<string, string>();
  config.pools.forEach((pool, i) => {
    if (poolIds.has(pool.id)) problems.push(`pools[${i}].id: duplicate pool id ${pool.id}`);
    poolIds.add(pool.id);
    pool.projects.forEach((m, j) => {
      if (!projectIds.has(m.project)) problems.push(`pools[${i}].projects[${j}].project: unknown project ${m.project}`);
      // One pool per project: its counters live under the pool's hash tag (redis-store.ts).
      const other = pooledProjects.get(m.project);
      if (other !== undefined) problems.push(`pools[${i}].projects[${j}].project: ${m.project} is already in pool ${other} (a project belongs to at most one pool)`);
      pooledProjects.set(m.project, pool.id);
    });
  });
  const tenantIds = new Set<string>();
  const keys = new Set<string>();
  config.tenants.forEach((t, i) => {
    if (tenantIds.has(t.id)) problems.push(`tenants[${i}].id: duplicate tenant id ${t.id}`);
    tenantIds.add(t.id);
    if ((t.project === undefined) === (t.pool === undefined)) problems.push(`tenants[${i}]: name either a project or a pool`);
    if (t.project !== undefined && !projectIds.has(t.project)) problems.push(`tenants[${i}].project: unknown project ${t.project}`);
    if (t.pool !== undefined && !poolIds.has(t.pool)) problems.push(`tenants[${i}].pool: unknown pool ${t.pool}`);
    t.keys.forEach((k, j) => {
      if (keys.has(k)) problems.push(`tenants[${i}].keys[${j}]: the same key hash is given twice`);
      keys.add(k);
    });
  });
  for (const [alias, target] of Object.entries(config.aliases)) {
    if (!modelIds.has(target)) problems.push(`aliases.${alias}: unknown model ${target} (use a canonical id: ${[...modelIds].join(', ')})`);
    if (modelIds.has(alias.toLowerCase())) problems.push(`aliases.${alias}: shadows a canonical model id`);
  }
  const aliasNames = new Set([...table.models.flatMap((m) => m.aliases), ...Object.keys(config.aliases).map((a) => a.toLowerCase())]);
  if (!modelIds.has(config.defaultModel) && !aliasNames.has(config.defaultModel.toLowerCase())) {
    problems.push(`defaultModel: unknown model ${config.defaultModel}`);
  }
  return problems;
}

/** The model table a config asks for: the shipped one with its `models.override` merged in. */
export function modelTableFor(config: Readonly<GatewayConfig>): ModelTable {
  return loadModelTable(config.models.override);
}

/** Parses and validates config text. Throws ConfigError naming every bad field. */
export function parseConfig(text: string, env: Env, source = 'config'): Readonly<GatewayConfig> {
  const doc = parseDocument(substituteEnv(text, env), { prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${source}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${source}: ${parsed.error.issues.map(describeIssue).join('; ')}`);
  }
  let table: ModelTable;
  try {
    table = modelTableFor(parsed.data);
  } catch (e) {
    if (e instanceof ModelTableError) throw new ConfigError(`${source}: ${e.message}`);
    throw e;
  }
  const problems = checkReferences(parsed.data, table);
  if (problems.length > 0) throw new ConfigError(`${source}: ${problems.join('; ')}`);
  return deepFreeze(parsed.data);
}

export function loadConfigFile(path: string, env: Env): Readonly<GatewayConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseConfig(text, env, path);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

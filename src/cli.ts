import { existsSync } from 'node:fs';
import { ConfigError, loadConfigFile, modelTableFor } from './config/load.js';
import type { GatewayConfig } from './config/schema.js';
import { TIERS, type Tier } from './models/catalog.js';
import { modelReport, renderModelMarkdown, renderModelText } from './models/model-report.js';
import { loadModelTable, ModelTableError } from './models/model-table.js';
import { ModelResolver } from './models/resolver.js';
import { hashKey } from './tenants/keys.js';
import { systemClock } from './time/clock.js';

const USAGE = `usage:
  nanogate hash-key KEY          print the sha256:… form of a tenant key for the config file
  nanogate check-config [FILE]   validate a config file (default: $GATEWAY_CONFIG or config/gateway.yaml)
  nanogate models [--config FILE] [--tier NAME] [--json | --markdown] [--at DATE]
                                 the model table: names, model, stage, shutdown, USD per image
                                 (standard / batch) and the tier's limits (default tier1), as of
                                 now or DATE (YYYY-MM-DD or an ISO instant)`;

const DEFAULT_CONFIG = 'config/gateway.yaml';

/** `nanogate models`: the table as the config (overrides, aliases, models.retired) makes it. */
function modelsCommand(args: readonly string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): number {
  let configFile: string | undefined;
  let tier: Tier = 'tier1';
  let format: 'text' | 'json' | 'markdown' = 'text';
  let atMs = systemClock.nowMs();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    try {
      if (arg === '--config') configFile = value();
      else if (arg === '--tier') {
        const t = value();
        if (!(TIERS as readonly string[]).includes(t)) throw new UsageError(`--tier must be one of ${TIERS.join(', ')}`);
        tier = t as Tier;
      } else if (arg === '--json') format = 'json';
      else if (arg === '--markdown') format = 'markdown';
      else if (arg === '--at') {
        const t = value();
        const ms = /^\d{4}-\d{2}-\d{2}$/.test(t) ? Date.parse(`${t}T00:00:00Z`) : Date.parse(t);
        if (Number.isNaN(ms)) throw new UsageError('--at must be a date (YYYY-MM-DD) or an ISO instant');
        atMs = ms;
      } else throw new UsageError(`unknown option ${arg}`);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      err(`nanogate models: ${e.message}\n${USAGE}`);
      return 2;
    }
  }
  // Without --config: $GATEWAY_CONFIG, else the shipped config if it is here, else the shipped table alone.
  const file = configFile ?? env.GATEWAY_CONFIG ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  let models: ModelResolver;
  let retired: GatewayConfig['models']['retired'] = 'redirect';
  try {
    if (file === undefined) models = new ModelResolver({ table: loadModelTable() });
    else {
      const config = loadConfigFile(file, env);
      retired = config.models.retired;
      models = new ModelResolver({ table: modelTableFor(config), aliases: config.aliases, retired });
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ModelTableError) {
      err(e.message);
      return 1;
    }
    throw e;
  }
  const report = modelReport(models, atMs, tier, retired);
  out(format === 'json' ? JSON.stringify(report, null, 2) : format === 'markdown' ? renderModelMarkdown(report) : renderModelText(report));
  return 0;
}

class UsageError extends Error {}

/** The `nanogate` command. Returns the exit code; output goes to the given writers. */
export function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): number {
  const [command, ...args] = argv;
  switch (command) {
    case 'hash-key': {
      const key = args[0];
      if (!key || args.length > 1) {
        err(`nanogate hash-key: give exactly one key\n${USAGE}`);
        return 2;
      }
      out(hashKey(key));
      return 0;
    }
    case 'check-config': {
      const file = args[0] ?? env.GATEWAY_CONFIG ?? 'config/gateway.yaml';
      try {
        const config = loadConfigFile(file, env);
        out(`${file}: ok (${config.projects.length} project(s), ${config.tenants.length} tenant(s))`);
        return 0;
      } catch (e) {
        if (e instanceof ConfigError) {
          err(e.message);
          return 1;
        }
        throw e;
      }
    }
    case undefined:
    case '-h':
    case '--help':
      out(USAGE);
      return command === undefined ? 2 : 0;
    case 'models':
      return modelsCommand(args, env, out, err);
    default:
      err(`nanogate: unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

import { ConfigError, loadConfigFile } from './config/load.js';
import { hashKey } from './tenants/keys.js';

const USAGE = `usage:
  nanogate hash-key KEY          print the sha256:… form of a tenant key for the config file
  nanogate check-config [FILE]   validate a config file (default: $GATEWAY_CONFIG or config/gateway.yaml)`;

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
    default:
      err(`nanogate: unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

/** What a started gateway is made of, for the one line a person reads at start (#12). */
export interface StartSummary {
  /** `memory (this instance only)`, `Redis redis://host:6379`, `Redis Cluster a:7000,b:7001`: never a password. */
  store: string;
  /** `SQLite data/nanogate.db`, `PostgreSQL db.internal:5432/nanogate`: never a password. */
  database: string;
  admin: boolean;
  tenants: number;
  keys: number;
  /** Each project with the number of served models its tier and limits let it call. */
  projects: ReadonlyArray<{ id: string; tier: string; models: number; /** A Vertex AI project's `project/location` (#17.3). */ vertex?: string }>;
  /** Config `pools` (#17), each with its strategy and its projects in order (weights when weighted). */
  pools?: ReadonlyArray<{ id: string; strategy: 'order' | 'weight'; projects: ReadonlyArray<{ project: string; weight: number }> }>;
}

export interface StartLineInput extends StartSummary {
  version: string;
  configPath: string;
  /** http://host:port of the public server. */
  address: string;
  /** http://host:port of the ops server, when server.opsPort is set. */
  opsAddress?: string;
}

/** Where a DATABASE_URL (or the SQLite file) is: never the password. */
export function describeDatabase(databaseUrl: string | undefined, sqlitePath: string): string {
  if (!databaseUrl) return `SQLite ${sqlitePath}`;
  try {
    const url = new URL(databaseUrl);
    const name = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(default database)';
    return `PostgreSQL ${url.hostname || 'localhost'}:${url.port || '5432'}/${name}`;
  } catch {
    // libpq's key=value form ("host=db dbname=x"): name no part of it, it may hold the password.
    return 'PostgreSQL (DATABASE_URL is not a URL)';
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The line itself: every part named, in the order an operator checks them. */
export function startLine(s: StartLineInput): string {
  const projects = s.projects.map((p) => `${p.id} (${p.vertex ? `Vertex AI ${p.vertex}, ` : ''}${p.tier}, ${plural(p.models, 'model')})`).join(', ');
  return [
    `nanogate ${s.version} listening on ${s.address}`,
    s.opsAddress ? `ops (health, metrics, admin) on ${s.opsAddress}` : 'ops (health, metrics, admin) on the same port',
    `config ${s.configPath}`,
    `quota store: ${s.store}`,
    `database: ${s.database}`,
    `admin API: ${s.admin ? 'on' : 'off (no ADMIN_TOKEN)'}`,
    `${plural(s.tenants, 'tenant')} with ${plural(s.keys, 'key')}`,
    `projects: ${projects}`,
    // Only when there are pools: a config without them starts with the line it always had.
    ...(s.pools && s.pools.length > 0 ? [`pools: ${s.pools.map(describePool).join(', ')}`] : []),
  ].join(' | ');
}

function describePool(p: NonNullable<StartSummary['pools']>[number]): string {
  const members = p.projects.map((m) => (p.strategy === 'weight' ? `${m.project}×${m.weight}` : m.project)).join(' > ');
  return `${p.id} (${p.strategy === 'weight' ? 'by weight' : 'in order'}: ${p.strategy === 'weight' ? members.replaceAll(' > ', ', ') : members})`;
}

/**
 * The mock as its own process, for the benchmark (so its CPU is not the gateway's):
 *   node main.js [NAME=value ...]
 * Settings come from the environment, or from NAME=value arguments, which win:
 *   PORT (default 0 = any), HOST (127.0.0.1), GOOGLE_API_KEYS (comma-separated, default test-google-key),
 *   IMAGE_BYTES_512, IMAGE_BYTES_1K, IMAGE_BYTES_2K, IMAGE_BYTES_4K, IMAGE_BYTES_DEFAULT.
 * Prints one line {"url": "http://host:port"} on stdout once listening; exits on SIGTERM/SIGINT.
 */
import { startMockGoogle, type MockGoogleOptions } from './server.js';

type ImageSizeKey = keyof NonNullable<MockGoogleOptions['imageBytes']>;

const SIZE_KEYS: ReadonlyArray<[string, ImageSizeKey]> = [
  ['IMAGE_BYTES_512', '512'],
  ['IMAGE_BYTES_1K', '1K'],
  ['IMAGE_BYTES_2K', '2K'],
  ['IMAGE_BYTES_4K', '4K'],
  ['IMAGE_BYTES_DEFAULT', 'default'],
];

function settings(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) out.set(name, value);
  for (const arg of process.argv.slice(2)) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new Error(`mock-google: expected NAME=value, got "${arg}"`);
    out.set(arg.slice(0, eq).replace(/^--/, '').toUpperCase().replace(/-/g, '_'), arg.slice(eq + 1));
  }
  return out;
}

function whole(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`mock-google: ${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const env = settings();
  const imageBytes: NonNullable<MockGoogleOptions['imageBytes']> = {};
  for (const [name, key] of SIZE_KEYS) {
    const raw = env.get(name);
    if (raw !== undefined && raw !== '') imageBytes[key] = whole(name, raw);
  }
  const port = env.get('PORT');
  const keys = env.get('GOOGLE_API_KEYS');
  const mock = await startMockGoogle({
    port: port === undefined || port === '' ? 0 : whole('PORT', port),
    host: env.get('HOST') || '127.0.0.1',
    apiKeys: keys ? keys.split(',').map((k) => k.trim()).filter((k) => k !== '') : undefined,
    imageBytes,
    // A benchmark run makes too many requests to keep them all.
    recordRequests: false,
  });
  // Build the big payloads now, so the first measured request does not pay for them.
  for (const [, key] of SIZE_KEYS) mock.imageBase64(key === 'default' ? undefined : key);
  process.stdout.write(`${JSON.stringify({ url: mock.url })}\n`);

  const stop = () => {
    mock.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

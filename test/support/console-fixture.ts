/**
 * A gateway for the admin console's browser tests (#18) and its README screenshots: the mock
 * of Google, an admin token, config and admin-made tenants, and a month of usage history so the
 * charts have something to show. The clock is fixed (10:00 in Los Angeles on 2026-11-27), so the
 * Pacific month, the budgets' periods and the model table's lineup never depend on the day the
 * suite runs; quota windows then never age out either, which the gauges' tests rely on.
 */
import { hashKey } from '../../src/tenants/keys.js';
import { ManualClock } from '../../src/time/clock.js';
import { pacificDayStartMs } from '../../src/time/pacific.js';
import { newRecordId, type UsageRecord } from '../../src/usage/record.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { ADMIN_TOKEN, GOOGLE_KEY, startGateway, type RunningGateway } from './gateway-harness.js';

export const CONSOLE_ADMIN_TOKEN = ADMIN_TOKEN;
export const DESIGN_KEY = 'console-design-key';
export const NOW_ISO = '2026-11-27T18:00:00Z';

const CONFIG = `
upstream: { baseUrl: $UPSTREAM, timeoutMs: 5000, retries: 0 }
defaultModel: nano-banana-pro
projects:
  - id: default
    apiKey: ${GOOGLE_KEY}
    tier: tier1
tenants:
  - id: design
    project: default
    keys: ["${hashKey(DESIGN_KEY)}"]
    limits: { rpm: 15, rpd: 200 }
    budget: { dailyUsd: 25, monthlyUsd: 400 }
database: { path: $DB_PATH }
`;

export interface ConsoleFixture {
  mock: MockGoogle;
  gw: RunningGateway;
  clock: ManualClock;
  close(): Promise<void>;
}

const PRO = 'gemini-3-pro-image';
const FLASH = 'gemini-nano-banana-2.1';
const LITE = 'gemini-3.1-flash-lite-image';

/** A deterministic pseudo-random sequence, so the history (and the screenshots) are the same every run. */
function sequence(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/** Usage records for Nov 1-26 (Pacific): what the charts and the recent calls show besides the live calls. */
export function history(): UsageRecord[] {
  const rnd = sequence(18);
  const out: UsageRecord[] = [];
  const tenants: Array<{ id: string; key: string; weight: number; models: Array<[string, string, number, number]> }> = [
    { id: 'design', key: 'key_design_cfg', weight: 1.0, models: [[PRO, '2K', 1680, 134_400_000], [FLASH, '1K', 1120, 33_600_000]] },
    { id: 'marketing', key: 'key_marketing_1', weight: 0.6, models: [[FLASH, '2K', 1680, 50_400_000], [LITE, '1K', 1120, 33_600_000]] },
    { id: 'research', key: 'key_research_1', weight: 0.35, models: [[PRO, '4K', 2000, 240_000_000], [LITE, '1K', 1120, 33_600_000]] },
  ];
  for (let d = 1; d <= 26; d++) {
    const day = `2026-11-${String(d).padStart(2, '0')}`;
    const start = pacificDayStartMs(day);
    const weekday = new Date(`${day}T12:00:00Z`).getUTCDay();
    const busy = weekday === 0 || weekday === 6 ? 0.35 : 1;
    for (const t of tenants) {
      const calls = Math.round((3 + rnd() * 9) * t.weight * busy * (0.6 + d / 40));
      for (let i = 0; i < calls; i++) {
        const [model, size, tokens, cost] = t.models[rnd() < 0.6 ? 0 : 1]!;
        const timeMs = start + Math.floor((8 + rnd() * 10) * 3_600_000);
        const failed = rnd() < 0.04;
        out.push({
          id: newRecordId(timeMs),
          timeMs,
          day,
          requestId: `req_hist_${d}_${t.id}_${i}`,
          tenantId: t.id,
          keyId: t.key,
          projectId: 'default',
          route: rnd() < 0.5 ? 'openai.generations' : 'native.generateContent',
          modelAsked: model === PRO ? 'nano-banana-pro' : model === FLASH ? 'nano-banana-2' : 'nano-banana',
          model,
          imageSize: size,
          imagesReturned: failed ? 0 : 1,
          inputTokens: 12 + Math.floor(rnd() * 40),
          inputTextTokens: 12 + Math.floor(rnd() * 40),
          inputImageTokens: 0,
          outputImageTokens: failed ? 0 : tokens,
          outputTextTokens: Math.floor(rnd() * 30),
          thinkingTokens: model === PRO ? Math.floor(rnd() * 300) : 0,
          costNanoUsd: failed ? 0 : cost + Math.floor(rnd() * 1_000_000),
          httpStatus: failed ? 429 : 200,
          finishReason: failed ? null : 'STOP',
          latencyMs: 4_000 + Math.floor(rnd() * 14_000),
          user: null,
          batch: false,
          flags: failed ? ['upstream_error'] : [],
          usageMetadata: failed ? null : { promptTokenCount: 20, candidatesTokenCount: tokens },
          priceVersion: 'history',
        });
      }
    }
  }
  return out;
}

export async function startConsoleFixture(): Promise<ConsoleFixture> {
  const mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
  const clock = new ManualClock(NOW_ISO);
  // The live check runs once at start against the mock's model list, so the Models page shows a result.
  const gw = await startGateway({ upstreamUrl: mock.url, configYaml: CONFIG, clock, modelLiveCheck: {} });
  const admin = { authorization: `Bearer ${CONSOLE_ADMIN_TOKEN}`, 'content-type': 'application/json' };
  for (const body of [
    { id: 'marketing', project: 'default', limits: { rpm: 10 }, budget: { dailyUsd: 5, monthlyUsd: 120 } },
    { id: 'research', project: 'default', budget: { monthlyUsd: 60 } },
  ]) {
    const res = await fetch(`${gw.url}/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`creating tenant ${body.id}: ${res.status} ${await res.text()}`);
  }
  await gw.gateway.db.insertUsage(history());
  return {
    mock,
    gw,
    clock,
    async close() {
      await gw.close();
      await mock.close();
    },
  };
}

/**
 * The admin console (#18) in a real headless browser: Debian's Chromium driven by
 * playwright-core against a whole gateway (the mock of Google behind it). Browser state is
 * awaited by polling with a deadline (waitFor / waitForFunction), never by sleeping.
 *
 * With CONSOLE_SCREENSHOTS=docs/console set, the last test writes the README's screenshots there.
 */
import { mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '../../src/admin/console/plugin.js';
import { browserUnavailable, launchBrowser, type HeadlessBrowser } from '../support/browser.js';
import { CONSOLE_ADMIN_TOKEN, DESIGN_KEY, startConsoleFixture, type ConsoleFixture } from '../support/console-fixture.js';
import { serviceUnavailable } from '../support/required-services.js';

const unavailable = browserUnavailable();
if (unavailable) serviceUnavailable('Chromium', unavailable, 'the admin console browser suite');

const DEADLINE_MS = 15_000;

// The little of the DOM the functions run inside the page use: this suite is compiled without
// the DOM's types. (They are functions, not strings: the console's CSP forbids eval, and
// Playwright calls functions without it.)
interface PageElement {
  textContent: string | null;
  children: ArrayLike<PageElement>;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  classList: { contains(name: string): boolean };
}
declare const document: { cookie: string; querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement> };

describe.skipIf(unavailable !== undefined)('admin console in a headless browser', () => {
  let f: ConsoleFixture;
  let browser: HeadlessBrowser;
  let page: Page;
  /** What the page reported as broken: script errors and CSP violations. */
  const problems: string[] = [];

  const admin = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${f.gw.url}${path}`, { headers: { authorization: `Bearer ${CONSOLE_ADMIN_TOKEN}` } });
    expect(res.status, path).toBe(200);
    return (await res.json()) as T;
  };
  const generate = (key: string, model = 'nano-banana-pro') =>
    fetch(`${f.gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'a banana in a spacesuit' }),
    });
  /** Polls `probe` until it returns true, failing after the deadline. */
  const until = async (what: string, probe: () => Promise<boolean>) => {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      if (await probe()) return;
      if (Date.now() > deadline) throw new Error(`still not true after ${DEADLINE_MS} ms: ${what}`);
      await new Promise((r) => setImmediate(r));
    }
  };
  const go = async (route: string, ready: string) => {
    await page.goto(`${f.gw.url}/admin/console#/${route}`);
    await page.getByTestId(ready).first().waitFor({ timeout: DEADLINE_MS });
  };

  beforeAll(async () => {
    f = await startConsoleFixture();
    browser = await launchBrowser();
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: f.gw.url });
    page = await browser.context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await f?.close();
  });

  it('serves the page under a strict Content-Security-Policy, with nothing from another host', async () => {
    const res = await fetch(`${f.gw.url}/admin/console`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\bstyle=|https?:\/\//);
  });

  it('refuses a wrong token at sign-in and sets no cookie', async () => {
    await page.goto(`${f.gw.url}/admin/console`);
    await page.getByTestId('signin-token').fill('not-the-admin-token-at-all-0123456789');
    await page.getByTestId('signin-submit').click();
    await page.getByText('That is not the admin token.').waitFor({ timeout: DEADLINE_MS });
    expect(await browser.context.cookies()).toEqual([]);
    expect(await page.getByTestId('nav-spend').count()).toBe(0);
  });

  it('signs in with the admin token into an HttpOnly, SameSite=Strict session cookie that is not the token', async () => {
    await page.getByTestId('signin-token').fill(CONSOLE_ADMIN_TOKEN);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('spend-total-cost').waitFor({ timeout: DEADLINE_MS });
    const [cookie, ...others] = await browser.context.cookies();
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({ name: 'nanogate_console', path: '/admin', httpOnly: true, sameSite: 'Strict', secure: false });
    expect(cookie!.value).not.toContain(CONSOLE_ADMIN_TOKEN);
    expect(cookie!.expires - Date.now() / 1000).toBeGreaterThan(7 * 3600);
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it("draws the month's spend by tenant and by model with totals equal to /admin/usage to the micro-dollar", async () => {
    type Usage = { rows: Array<{ tenant?: string; model?: string; costUsd: string; images: number }>; totals: { costUsd: string; images: number } };
    const month = await admin<Usage>('/admin/usage?from=2026-11-01&to=2026-11-27&groupBy=');
    expect(month.totals.costUsd).not.toBe('0.000000');
    const shown = page.getByTestId('spend-total-cost');
    expect(await shown.getAttribute('data-exact')).toBe(month.totals.costUsd);
    expect(await shown.textContent()).toBe(`$${month.totals.costUsd}`);
    expect(await page.getByTestId('spend-total-images').getAttribute('data-exact')).toBe(String(month.totals.images));
    expect(await page.getByTestId('spend-tenant-total').textContent()).toBe(`$${month.totals.costUsd}`);
    expect(await page.getByTestId('spend-model-total').textContent()).toBe(`$${month.totals.costUsd}`);
    const byTenant = await admin<Usage>('/admin/usage?from=2026-11-01&to=2026-11-27&groupBy=tenant');
    for (const row of byTenant.rows) {
      expect(await page.locator(`[data-testid=spend-legend-tenant] tr[data-series="${row.tenant}"]`).getAttribute('data-cost-usd'), row.tenant).toBe(row.costUsd);
    }
    const byModel = await admin<Usage>('/admin/usage?from=2026-11-01&to=2026-11-27&groupBy=model');
    for (const row of byModel.rows) {
      expect(await page.locator(`[data-testid=spend-legend-model] tr[data-series="${row.model}"]`).getAttribute('data-cost-usd'), row.model).toBe(row.costUsd);
    }
    // Two charts, drawn by uPlot onto canvases.
    expect(await page.locator('.chart canvas').count()).toBe(2);

    // Another range, picked with the date inputs.
    await page.getByTestId('spend-from').fill('2026-11-10');
    await page.getByTestId('spend-from').dispatchEvent('change');
    await page.getByTestId('spend-to').fill('2026-11-16');
    await page.getByTestId('spend-to').dispatchEvent('change');
    const week = await admin<Usage>('/admin/usage?from=2026-11-10&to=2026-11-16&groupBy=');
    await page.waitForFunction((usd) => document.querySelector('[data-testid=spend-total-cost]')?.getAttribute('data-exact') === usd, week.totals.costUsd, { timeout: DEADLINE_MS });

    // The CSV is what is shown: the same range, by day, tenant and model, summing to the same total.
    const href = (await page.getByTestId('spend-csv').getAttribute('href'))!;
    expect(href).toContain('from=2026-11-10&to=2026-11-16');
    const csv = await page.evaluate(async (url) => {
      const res = await fetch(url);
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    }, href);
    expect(csv.status).toBe(200);
    expect(csv.type).toContain('text/csv');
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe('day,tenant,model,requests,images,input_tokens,output_image_tokens,output_text_tokens,thinking_tokens,cost_usd');
    // Row for row the API's own figures (each row rounded to the micro-dollar once, as in JSON).
    const detail = await admin<{ rows: Array<{ day: string; tenant: string; model: string; requests: number; costUsd: string }> }>('/admin/usage?from=2026-11-10&to=2026-11-16&groupBy=day,tenant,model');
    expect(lines.slice(1)).toHaveLength(detail.rows.length);
    expect(lines.slice(1).map((l) => { const c = l.split(','); return [c[0], c[1], c[2], Number(c[3]), c.at(-1)]; })).toEqual(detail.rows.map((r) => [r.day, r.tenant, r.model, r.requests, r.costUsd]));
  });

  it('refuses a state-changing request that lacks the CSRF token, and accepts it with the token', async () => {
    const answers = await page.evaluate(async () => {
      const json = { 'content-type': 'application/json' };
      const post = await fetch('/admin/tenants', { method: 'POST', headers: json, body: JSON.stringify({ id: 'csrf-probe', project: 'default' }) });
      const wrong = await fetch('/admin/tenants/research', { method: 'PATCH', headers: { ...json, 'x-csrf-token': 'forged' }, body: JSON.stringify({ limits: { rpm: 1 } }) });
      const read = await fetch('/admin/tenants');
      const session = (await (await fetch('/admin/console/session')).json()) as { csrfToken: string };
      const right = await fetch('/admin/tenants/research', { method: 'PATCH', headers: { ...json, 'x-csrf-token': session.csrfToken }, body: JSON.stringify({ limits: { rpm: 30 } }) });
      return { post: post.status, postBody: await post.json(), wrong: wrong.status, read: read.status, right: right.status };
    });
    expect(answers).toMatchObject({ post: 403, wrong: 403, read: 200, right: 200 });
    expect(JSON.stringify(answers.postBody)).toContain('x-csrf-token');
    const tenants = await admin<{ tenants: Array<{ id: string; limits: Record<string, number> }> }>('/admin/tenants');
    expect(tenants.tenants.map((t) => t.id)).not.toContain('csrf-probe');
    expect(tenants.tenants.find((t) => t.id === 'research')?.limits).toEqual({ rpm: 30 });
  });

  it('creates a key that is shown once with a copy button, and a revoked key fails on the images API', async () => {
    await go('tenants', 'tenants-table');
    await page.locator('tr[data-tenant=marketing]').click();
    await page.getByTestId('budget-monthly').waitFor({ timeout: DEADLINE_MS });
    expect(await page.getByTestId('remaining-monthly').textContent()).toMatch(/^\$\d+\.\d{6}$/);
    await page.getByTestId('key-name').fill('ci');
    await page.getByTestId('create-key').click();
    const field = page.getByTestId('new-key');
    await field.waitFor({ timeout: DEADLINE_MS });
    const key = await field.inputValue();
    expect(key).toMatch(/^ng_/);
    await page.getByText('This is the only time the key is shown').waitFor({ timeout: DEADLINE_MS });
    await page.getByTestId('copy-key').click();
    await page.getByTestId('copy-key').getByText('Copied').waitFor({ timeout: DEADLINE_MS });
    expect(await page.evaluate(() => (navigator as unknown as { clipboard: { readText(): Promise<string> } }).clipboard.readText())).toBe(key);
    await page.getByRole('button', { name: 'Done' }).click();

    expect((await generate(key)).status).toBe(200);
    const keys = await admin<{ keys: Array<{ id: string; name: string | null }> }>('/admin/tenants/marketing/keys');
    const keyId = keys.keys.find((k) => k.name === 'ci')!.id;
    // The key is not on the page any more: only its id.
    expect(await page.content()).not.toContain(key);
    await page.getByTestId(`revoke-${keyId}`).click();
    await page.getByTestId('confirm').click();
    await page.locator(`tr[data-key="${keyId}"].revoked`).waitFor({ timeout: DEADLINE_MS });
    await until('the revoked key is refused', async () => (await generate(key)).status === 401);
  });

  it('moves a quota gauge after a call, and shows the cool-down after Google answers 429', async () => {
    await go('quota', 'gauge-default-gemini-3-pro-image-rpm');
    const gauge = '[data-testid="gauge-default-gemini-3-pro-image-rpm"]';
    const usedBefore = Number(await page.locator(gauge).getAttribute('data-used'));
    expect((await generate(DESIGN_KEY)).status).toBe(200);
    await page.waitForFunction(({ sel, n }) => Number(document.querySelector(sel)?.getAttribute('data-used')) === n + 1, { sel: gauge, n: usedBefore }, { timeout: DEADLINE_MS });
    expect(await page.locator(gauge).getAttribute('data-limit')).toBe('20');

    const cooldown = page.getByTestId('cooldown-default-gemini-3-pro-image');
    expect(await cooldown.isHidden()).toBe(true);
    f.mock.enqueue({ kind: 'rateLimit', retryDelay: '40s' });
    expect((await generate(DESIGN_KEY)).status).toBe(429);
    await cooldown.waitFor({ state: 'visible', timeout: DEADLINE_MS });
    expect(await cooldown.textContent()).toMatch(/cooling down, 40s left/);
  });

  it('shows the model table with its lifecycle and the last live check', async () => {
    await go('models', 'models-table');
    expect(await page.locator('tr[data-model="gemini-2.5-flash-image"] [data-testid=stage]').textContent()).toBe('retired');
    expect(await page.locator('tr[data-model="gemini-2.5-flash-image"]').getAttribute('class')).toContain('stage-bad');
    expect(await page.locator('tr[data-model="gemini-3.1-flash-image"] [data-testid=stage]').textContent()).toBe('deprecated');
    expect(await page.locator('tr[data-model="gemini-3-pro-image"] [data-testid=stage]').textContent()).toBe('GA');
    await page.waitForFunction(() => !document.querySelector('[data-testid=live-check]')?.classList.contains('check-none'), undefined, { timeout: DEADLINE_MS }).catch(async () => {
      // The start-up check may still be running when the page first loads: load it again.
      await go('models', 'models-table');
    });
    expect(await page.getByTestId('live-check').textContent()).toMatch(/Last live check|finding/);
  });

  it("lists the recent calls with filters and opens one call's detail", async () => {
    await go('calls', 'calls-table');
    await page.locator('select[data-filter=tenant]').selectOption('design');
    await page.locator('select[data-filter=status]').selectOption('429');
    const rowsAre = (want: { tenant: string; status: string }) =>
      page.waitForFunction(
        ({ tenant, status }) => {
          const rows = Array.from(document.querySelectorAll('[data-testid=calls-table] tbody tr'));
          return rows.length > 0 && rows.every((r) => r.children[1]?.textContent === tenant && r.querySelector('.badge')?.textContent === status);
        },
        want,
        { timeout: DEADLINE_MS },
      );
    await rowsAre({ tenant: 'design', status: '429' });
    await page.locator('select[data-filter=status]').selectOption('success');
    await rowsAre({ tenant: 'design', status: '200' });
    const first = page.locator('[data-testid=calls-table] tbody tr').first();
    const requestId = await first.getAttribute('data-request');
    await first.click();
    await page.getByTestId('call-detail').waitFor({ timeout: DEADLINE_MS });
    expect(await page.getByTestId('call-request-id').textContent()).toBe(requestId);
    const [call] = (await admin<{ calls: Array<{ costUsd: string; latencyMs: number; finishReason: string }> }>(`/admin/calls/${requestId}`)).calls;
    expect(await page.getByTestId('call-cost').textContent()).toBe(`$${call!.costUsd}`);
    expect(await page.getByTestId('call-finish').textContent()).toBe(call!.finishReason);
    expect(await page.getByTestId('call-tokens').textContent()).toContain('Output: image');
    await page.getByRole('button', { name: 'Close' }).last().click();
  });

  it('takes a screenshot of every page, with no script error or CSP violation along the way', async () => {
    const dir = process.env.CONSOLE_SCREENSHOTS ? resolve(process.env.CONSOLE_SCREENSHOTS) : join(tmpdir(), `nanogate-console-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    // Some traffic of today, so the gauges have something to show.
    for (const model of ['nano-banana-2', 'nano-banana-2', 'nano-banana-2', 'nano-banana']) expect((await generate(DESIGN_KEY, model)).status).toBe(200);
    const shots: Array<[string, () => Promise<void>]> = [
      ['spend', async () => {
        await go('spend', 'spend-total-cost');
        await page.getByRole('button', { name: 'This month' }).click();
        await page.waitForFunction(() => document.querySelector('[data-testid=spend-total-cost]')?.textContent?.startsWith('$') === true && document.querySelector('.tile-sub')?.textContent === '2026-11-01 → 2026-11-27', undefined, { timeout: DEADLINE_MS });
        await page.locator('.chart canvas').first().waitFor();
      }],
      ['quota', () => go('quota', 'gauge-default-gemini-3-pro-image-rpm')],
      ['tenants', async () => { await go('tenants', 'tenants-table'); await page.locator('tr[data-tenant=marketing]').click(); await page.getByTestId('keys-table').waitFor(); }],
      ['models', () => go('models', 'models-table')],
      ['calls', async () => { await go('calls', 'calls-table'); await page.locator('[data-testid=calls-table] tbody tr').first().click(); await page.getByTestId('call-detail').waitFor(); }],
    ];
    for (const [name, open] of shots) {
      await open();
      await page.screenshot({ path: join(dir, `${name}.png`), fullPage: name === 'models' || name === 'spend' });
      expect(statSync(join(dir, `${name}.png`)).size).toBeGreaterThan(10_000);
    }
    await page.getByRole('button', { name: 'Close' }).last().click();
    await page.getByTestId('signout').click();
    await page.getByTestId('signin-token').waitFor({ timeout: DEADLINE_MS });
    await page.screenshot({ path: join(dir, 'signin.png') });
    expect(await browser.context.cookies()).toEqual([]);
    expect(problems).toEqual([]);
  });
});

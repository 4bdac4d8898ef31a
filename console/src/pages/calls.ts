/**
 * Recent calls: the newest usage records (one per upstream call), filtered by tenant, model,
 * status and flag, and one call's detail: tokens by modality, cost, finish reason, latency.
 */
import { q } from '../api.js';
import { dialog, fill, h, icon, type Child } from '../dom.js';
import { int, time, usd } from '../format.js';
import type { Page } from '../page.js';
import type { ModelsAnswer } from './models.js';

export interface CallView {
  id: string;
  requestId: string;
  time: string;
  day: string;
  tenant: string;
  key: string;
  project: string;
  route: string;
  modelAsked: string;
  model: string;
  imageSize: string | null;
  images: number;
  tokens: { input: number; inputText: number; inputImage: number; outputImage: number; outputText: number; thinking: number };
  costUsd: string;
  httpStatus: number;
  finishReason: string | null;
  latencyMs: number;
  user: string | null;
  batch: boolean;
  flags: string[];
  usageMetadata: unknown;
  priceVersion: string;
}

const FLAGS = ['no_image', 'estimated', 'aborted', 'streamed', 'upstream_error'];
const STATUSES: Array<[string, string]> = [
  ['', 'Any status'],
  ['success', 'Success (2xx)'],
  ['error', 'Errors (4xx, 5xx)'],
  ['429', '429 from Google'],
  ['5xx', 'Server errors (5xx)'],
];

const filters: Record<'tenant' | 'model' | 'status' | 'flag' | 'limit', string> = { tenant: '', model: '', status: '', flag: '', limit: '200' };

function statusBadge(status: number): HTMLElement {
  return h('span', { class: `badge ${status >= 200 && status < 300 ? 'good' : status === 429 ? 'warn' : 'bad'}` }, String(status));
}

function select(name: keyof typeof filters, options: Array<[string, string]>, onChange: () => void): HTMLSelectElement {
  const el = h('select', { 'data-filter': name, 'aria-label': name }, options.map(([value, label]) => h('option', { value, selected: filters[name] === value }, label)));
  el.addEventListener('change', () => {
    filters[name] = el.value;
    onChange();
  });
  return el;
}

/** One call, in full. */
export function showCall(calls: CallView[], id: string): void {
  const c = calls.find((x) => x.id === id) ?? calls[0]!;
  const others = calls.filter((x) => x.id !== c.id);
  const t = c.tokens;
  const modality: Array<[string, number, string]> = [
    ['Input: text', t.inputText, 'in'],
    ['Input: images', t.inputImage, 'in'],
    ['Output: image', t.outputImage, 'out'],
    ['Output: text', t.outputText, 'out'],
    ['Thinking', t.thinking, 'think'],
  ];
  const max = Math.max(1, ...modality.map(([, n]) => n));
  const field = (label: string, value: Child, testid?: string) => h('div', null, h('dt', null, label), h('dd', { 'data-testid': testid }, value));
  dialog(
    'Call detail',
    h(
      'div',
      { class: 'call-detail', 'data-testid': 'call-detail' },
      h(
        'div',
        { class: 'call-summary' },
        h('div', { class: 'call-cost' }, h('div', { class: 'muted small' }, 'Cost'), h('div', { class: 'big', 'data-testid': 'call-cost' }, usd(c.costUsd))),
        h('div', null, h('div', { class: 'muted small' }, 'Status'), statusBadge(c.httpStatus)),
        h('div', null, h('div', { class: 'muted small' }, 'Latency'), h('div', { class: 'big', 'data-testid': 'call-latency' }, `${int(c.latencyMs)} ms`)),
        h('div', null, h('div', { class: 'muted small' }, 'Finish reason'), h('div', { class: 'big', 'data-testid': 'call-finish' }, c.finishReason ?? '—')),
      ),
      h(
        'dl',
        { class: 'fields' },
        field('Request id', h('code', null, c.requestId), 'call-request-id'),
        field('Record id', h('code', null, c.id)),
        field('Time', time(c.time)),
        field('Tenant / key', [c.tenant, ' · ', h('code', null, c.key)]),
        field('Project', c.project),
        field('Route', h('code', null, c.route)),
        field('Model', c.modelAsked === c.model ? h('code', null, c.model) : [h('code', null, c.modelAsked), ' → ', h('code', null, c.model)]),
        field('Image size', c.imageSize ?? '—'),
        field('Images', String(c.images)),
        field('Batch', c.batch ? 'yes' : 'no'),
        field('User', c.user ?? '—'),
        field('Price version', c.priceVersion),
        field('Flags', c.flags.length ? h('div', { class: 'chips' }, c.flags.map((f) => h('span', { class: 'chip' }, f))) : '—'),
      ),
      h('h3', null, 'Tokens by modality'),
      h(
        'div',
        { class: 'modalities', 'data-testid': 'call-tokens' },
        modality.map(([label, n, kind]) => {
          const bar = h('div', { class: `modality-fill ${kind}` });
          bar.style.width = `${(n / max) * 100}%`;
          return h('div', { class: 'modality' }, h('span', null, label), h('div', { class: 'modality-bar' }, bar), h('b', null, int(n)));
        }),
      ),
      others.length > 0 ? h('p', { class: 'muted small' }, `This request made ${calls.length} calls: ${others.map((o) => o.id).join(', ')}.`) : null,
      h('details', null, h('summary', null, 'Google’s usageMetadata'), h('pre', { class: 'json' }, JSON.stringify(c.usageMetadata, null, 2))),
    ),
    (close) => h('button', { type: 'button', class: 'button primary', on: { click: close } }, 'Close'),
  );
}

export const callsPage: Page = {
  title: 'Recent calls',
  subtitle: 'The newest upstream calls, one usage record each',
  async render(ctx) {
    const [{ tenants }, models] = await Promise.all([ctx.api.get<{ tenants: Array<{ id: string }> }>('/admin/tenants'), ctx.api.get<ModelsAnswer>('/admin/models')]);
    const body = h('div', { class: 'card flush' });
    const count = h('span', { class: 'muted' });
    const load = async () => {
      const { calls } = await ctx.api.get<{ calls: CallView[] }>(`/admin/calls?${q(filters)}`);
      count.textContent = `${calls.length} call${calls.length === 1 ? '' : 's'}`;
      fill(
        body,
        calls.length === 0
          ? h('div', { class: 'empty' }, 'No calls match.')
          : h(
              'table',
              { class: 'table calls', 'data-testid': 'calls-table' },
              h('thead', null, h('tr', null, ['Time', 'Tenant', 'Model', 'Images', 'Tokens in / out', 'Cost', 'Status', 'Latency', 'Flags'].map((c, i) => h('th', { class: i >= 3 && i <= 5 || i === 7 ? 'num' : undefined }, c)))),
              h(
                'tbody',
                null,
                calls.map((c) =>
                  h(
                    'tr',
                    {
                      class: 'clickable',
                      'data-call': c.id,
                      'data-request': c.requestId,
                      on: {
                        click: () =>
                          void ctx.api
                            .get<{ calls: CallView[] }>(`/admin/calls/${encodeURIComponent(c.requestId)}`)
                            .then((r) => showCall(r.calls, c.id), () => showCall([c], c.id)),
                      },
                    },
                    h('td', { class: 'nowrap' }, time(c.time)),
                    h('td', null, c.tenant),
                    h('td', null, h('code', null, c.model), c.modelAsked !== c.model ? h('div', { class: 'muted small' }, `asked ${c.modelAsked}`) : null),
                    h('td', { class: 'num' }, `${c.images}${c.imageSize ? ` × ${c.imageSize}` : ''}`),
                    h('td', { class: 'num' }, `${int(c.tokens.input)} / ${int(c.tokens.outputImage + c.tokens.outputText + c.tokens.thinking)}`),
                    h('td', { class: 'num' }, usd(c.costUsd)),
                    h('td', null, statusBadge(c.httpStatus)),
                    h('td', { class: 'num' }, `${int(c.latencyMs)} ms`),
                    h('td', null, h('div', { class: 'chips' }, c.flags.map((f) => h('span', { class: 'chip' }, f)))),
                  ),
                ),
              ),
            ),
      );
    };
    const reload = () => void load().catch(() => {});
    const bar = h(
      'div',
      { class: 'filters' },
      select('tenant', [['', 'All tenants'], ...tenants.map((t): [string, string] => [t.id, t.id])], reload),
      select('model', [['', 'All models'], ...models.models.filter((m) => !m.retired).map((m): [string, string] => [m.id, m.displayName])], reload),
      select('status', STATUSES, reload),
      select('flag', [['', 'Any flag'], ...FLAGS.map((f): [string, string] => [f, f])], reload),
      select('limit', [['100', 'Last 100'], ['200', 'Last 200'], ['500', 'Last 500']], reload),
      count,
    );
    ctx.setToolbar(h('button', { type: 'button', class: 'button secondary', 'data-testid': 'calls-refresh', on: { click: reload } }, icon('refresh'), 'Refresh'));
    fill(ctx.root, bar, body);
    await load();
  },
};

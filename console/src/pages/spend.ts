/**
 * Spend: cost and images per day by tenant and by model, for the current Pacific month by
 * default. Every figure comes from GET /admin/usage as it is: totals are the API's own exact
 * sums (six decimals), never re-added from rounded numbers.
 */
import { q } from '../api.js';
import { stackedBars, type Chart } from '../charts.js';
import { fill, h, icon, meter, swatch } from '../dom.js';
import { addDays, daysBetween, int, micro, microText, PALETTE, short, usd, usdShort } from '../format.js';
import type { Page } from '../page.js';
import type { ModelsAnswer } from './models.js';

interface UsageSums {
  requests: number;
  images: number;
  inputTokens: number;
  outputImageTokens: number;
  outputTextTokens: number;
  thinkingTokens: number;
  costUsd: string;
}
type UsageRow = UsageSums & { day?: string; tenant?: string; model?: string };
interface UsageAnswer {
  from: string;
  to: string;
  rows: UsageRow[];
  totals: UsageSums;
}

type Metric = 'cost' | 'images';
const MAX_SERIES = 8;

/** Kept while the console is open, so coming back to the page shows the same range. */
const state: { from?: string; to?: string; metric: Metric } = { metric: 'cost' };

function monthOf(today: string): { from: string; to: string } {
  return { from: `${today.slice(0, 7)}-01`, to: today };
}

function lastMonth(today: string): { from: string; to: string } {
  const to = addDays(`${today.slice(0, 7)}-01`, -1);
  return { from: `${to.slice(0, 7)}-01`, to };
}

export const spendPage: Page = {
  title: 'Spend',
  subtitle: 'Cost and images per Pacific day, by tenant and by model',
  async render(ctx) {
    const today = ctx.session.today;
    if (!state.from || !state.to) Object.assign(state, monthOf(today));
    const from = h('input', { type: 'date', value: state.from, max: today, 'data-testid': 'spend-from', 'aria-label': 'From' });
    const to = h('input', { type: 'date', value: state.to, max: today, 'data-testid': 'spend-to', 'aria-label': 'To' });
    const csv = h('a', { class: 'button secondary', download: true, 'data-testid': 'spend-csv' }, icon('download'), 'CSV');
    const metricButtons = (['cost', 'images'] as const).map((m) =>
      h('button', { type: 'button', class: 'segment', 'data-metric': m, 'aria-pressed': String(state.metric === m), on: { click: () => { state.metric = m; void load(); } } }, m === 'cost' ? 'Cost' : 'Images'),
    );
    const preset = (label: string, range: () => { from: string; to: string }) =>
      h('button', { type: 'button', class: 'chip-button', on: { click: () => { Object.assign(state, range()); from.value = state.from!; to.value = state.to!; void load(); } } }, label);
    ctx.setToolbar(
      h('div', { class: 'range' }, from, h('span', { class: 'muted' }, '→'), to),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Metric' }, metricButtons),
      csv,
    );
    const onRange = () => {
      if (!from.value || !to.value) return;
      state.from = from.value <= to.value ? from.value : to.value;
      state.to = from.value <= to.value ? to.value : from.value;
      void load();
    };
    from.addEventListener('change', onRange);
    to.addEventListener('change', onRange);

    const presets = h('div', { class: 'presets' },
      preset('This month', () => monthOf(today)),
      preset('Last month', () => lastMonth(today)),
      preset('Last 7 days', () => ({ from: addDays(today, -6), to: today })),
      preset('Last 30 days', () => ({ from: addDays(today, -29), to: today })),
    );
    const tiles = h('div', { class: 'tiles' });
    const tenantCard = h('section', { class: 'card' });
    const modelCard = h('section', { class: 'card' });
    fill(ctx.root, presets, tiles, h('div', { class: 'grid-2' }, tenantCard, modelCard));

    let charts: Chart[] = [];
    let models: ModelsAnswer | undefined;
    let generation = 0;

    async function load(): Promise<void> {
      const mine = ++generation;
      for (const b of metricButtons) b.setAttribute('aria-pressed', String(b.dataset.metric === state.metric));
      const range = { from: state.from!, to: state.to! };
      csv.setAttribute('href', `/admin/usage?${q({ ...range, groupBy: 'day,tenant,model', format: 'csv' })}`);
      const usage = (groupBy: string) => ctx.api.get<UsageAnswer>(`/admin/usage?${q({ ...range, groupBy })}`);
      const [byDayTenant, byDayModel, byTenant, byModel, modelTable] = await Promise.all([
        usage('day,tenant'),
        usage('day,model'),
        usage('tenant'),
        usage('model'),
        models ? Promise.resolve(models) : ctx.api.get<ModelsAnswer>('/admin/models'),
      ]);
      models = modelTable;
      if (mine !== generation || !ctx.root.isConnected) return;
      const totals = byTenant.totals;
      const perImage = totals.images > 0 ? Number(micro(totals.costUsd)) / 1e6 / totals.images : 0;
      fill(
        tiles,
        tile('Total cost', usd(totals.costUsd), `${range.from} → ${range.to}`, 'spend-total-cost', totals.costUsd),
        tile('Images', int(totals.images), `${int(totals.requests)} calls`, 'spend-total-images', String(totals.images)),
        tile('Cost per image', perImage > 0 ? usdShort(perImage) : '—', 'average over the range'),
        tile('Tokens', short(totals.inputTokens + totals.outputImageTokens + totals.outputTextTokens + totals.thinkingTokens), `${short(totals.inputTokens)} in · ${short(totals.outputImageTokens)} image out`),
      );
      for (const c of charts) c.destroy();
      charts = [];
      const names = new Map(models.models.map((m) => [m.id, m.displayName]));
      renderBreakdown(tenantCard, 'By tenant', 'tenant', byDayTenant, byTenant, range, (id) => id);
      renderBreakdown(modelCard, 'By model', 'model', byDayModel, byModel, range, (id) => names.get(id) ?? id);
    }

    function renderBreakdown(
      card: HTMLElement,
      title: string,
      key: 'tenant' | 'model',
      perDay: UsageAnswer,
      whole: UsageAnswer,
      range: { from: string; to: string },
      label: (id: string) => string,
    ): void {
      const days = daysBetween(range.from, range.to);
      const dayIndex = new Map(days.map((d, i) => [d, i]));
      const value = (r: UsageSums) => (state.metric === 'cost' ? Number(micro(r.costUsd)) / 1e6 : r.images);
      const ranked = [...whole.rows].sort((a, b) => (micro(b.costUsd) > micro(a.costUsd) ? 1 : micro(b.costUsd) < micro(a.costUsd) ? -1 : b.images - a.images));
      const shown = ranked.slice(0, ranked.length > MAX_SERIES ? MAX_SERIES - 1 : MAX_SERIES).map((r) => r[key] ?? '');
      const seriesOf = (id: string) => (shown.includes(id) ? id : 'others');
      const ids = ranked.length > shown.length ? [...shown, 'others'] : shown;
      const values = new Map(ids.map((id) => [id, new Array<number>(days.length).fill(0)]));
      for (const r of perDay.rows) {
        const i = dayIndex.get(r.day ?? '');
        const arr = values.get(seriesOf(r[key] ?? ''));
        if (i !== undefined && arr) arr[i] = (arr[i] ?? 0) + value(r);
      }
      const color = (i: number) => PALETTE[i % PALETTE.length]!;
      const total = whole.totals;
      const chart =
        ids.length === 0
          ? undefined
          : stackedBars({
              days,
              series: ids.map((id, i) => ({ label: id === 'others' ? 'Others' : label(id), color: color(i), values: values.get(id)! })),
              format: state.metric === 'cost' ? usdShort : (n) => short(Math.round(n)),
            });
      if (chart) charts.push(chart);
      const legendRows = ids.map((id, i) => {
        const rows = id === 'others' ? ranked.filter((r) => !shown.includes(r[key] ?? '')) : ranked.filter((r) => r[key] === id);
        const costMicro = rows.reduce((a, r) => a + micro(r.costUsd), 0n);
        const costText = id === 'others' ? microText(costMicro) : rows[0]!.costUsd;
        const images = rows.reduce((a, r) => a + r.images, 0);
        const share = state.metric === 'cost' ? (micro(total.costUsd) > 0n ? Number(costMicro) / Number(micro(total.costUsd)) : 0) : total.images > 0 ? images / total.images : 0;
        return h(
          'tr',
          { 'data-series': id, 'data-cost-usd': costText },
          h('td', null, h('span', { class: 'legend-name' }, swatch(color(i)), id === 'others' ? `Others (${rows.length})` : label(id))),
          h('td', { class: 'num' }, usd(costText)),
          h('td', { class: 'num' }, int(images)),
          h('td', { class: 'share' }, meter(share, '', color(i)), h('span', { class: 'muted' }, `${Math.round(share * 100)}%`)),
        );
      });
      fill(
        card,
        h('div', { class: 'card-head' }, h('h2', null, title), h('span', { class: 'muted' }, state.metric === 'cost' ? 'USD per day' : 'images per day')),
        chart ? chart.el : h('div', { class: 'empty' }, 'No calls in this range.'),
        ids.length > 0
          ? h(
              'table',
              { class: 'table legend', 'data-testid': `spend-legend-${key}` },
              h('thead', null, h('tr', null, h('th', null, key === 'tenant' ? 'Tenant' : 'Model'), h('th', { class: 'num' }, 'Cost'), h('th', { class: 'num' }, 'Images'), h('th', null, 'Share'))),
              h('tbody', null, legendRows),
              h('tfoot', null, h('tr', null, h('td', null, 'Total'), h('td', { class: 'num', 'data-testid': `spend-${key}-total` }, usd(total.costUsd)), h('td', { class: 'num' }, int(total.images)), h('td'))),
            )
          : null,
      );
    }

    await load();
    return () => {
      generation++;
      for (const c of charts) c.destroy();
    };
  },
};

function tile(label: string, value: string, sub: string, testid?: string, exact?: string): HTMLElement {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value', 'data-testid': testid, 'data-exact': exact }, value), h('div', { class: 'tile-sub muted' }, sub));
}

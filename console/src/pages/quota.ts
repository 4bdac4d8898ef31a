/**
 * Quota, live: each project's models, RPM / TPM / RPD / IPM used against the limit, read every
 * few seconds from the store the gateway admits against, the time left to the Pacific-midnight
 * reset, and the cool-downs after Google's 429.
 */
import { fill, h, icon, s } from '../dom.js';
import { duration, short } from '../format.js';
import type { Page } from '../page.js';
import type { ModelsAnswer } from './models.js';

const REFRESH_MS = 3_000;
const DIMENSIONS = [
  { key: 'rpm', label: 'Requests / min' },
  { key: 'tpm', label: 'Input tokens / min' },
  { key: 'rpd', label: 'Requests / day' },
  { key: 'ipm', label: 'Images / min' },
] as const;

interface Dimension {
  limit: number;
  used: number;
  remaining: number;
  resetAt: string;
}

interface QuotaAnswer {
  project: string;
  tier: string;
  at: string;
  models: Record<string, Partial<Record<'rpm' | 'tpm' | 'rpd' | 'ipm', Dimension>>>;
  cooldowns?: Record<string, { until: string; remainingMs: number }>;
}

interface Gauge {
  el: HTMLElement;
  update(d: Dimension | undefined, nowMs: number): void;
}

function tone(fraction: number): string {
  return fraction >= 0.9 ? 'bad' : fraction >= 0.6 ? 'warn' : 'good';
}

function gauge(id: string, label: string, perMinute: boolean): Gauge {
  const arc = 'M12 62 A48 48 0 0 1 108 62';
  const value = s('path', { d: arc, class: 'gauge-value', pathLength: 100, 'stroke-dasharray': '0 100' });
  const pct = s('text', { x: 60, y: 56, 'text-anchor': 'middle', class: 'gauge-pct' }, '0%');
  const used = h('div', { class: 'gauge-used' });
  const note = h('div', { class: 'gauge-note muted' });
  const el = h(
    'div',
    { class: 'gauge', 'data-testid': `gauge-${id}` },
    s('svg', { viewBox: '0 0 120 70', class: 'gauge-svg', role: 'img', 'aria-label': label }, s('path', { d: arc, class: 'gauge-track' }), value, pct),
    h('div', { class: 'gauge-label' }, label),
    used,
    note,
  );
  return {
    el,
    update(d, nowMs) {
      if (!d) {
        el.classList.add('gauge-off');
        used.textContent = 'no limit';
        note.textContent = '';
        return;
      }
      el.classList.remove('gauge-off');
      const fraction = d.limit > 0 ? Math.min(1, d.used / d.limit) : 1;
      value.setAttribute('stroke-dasharray', `${(fraction * 100).toFixed(2)} 100`);
      // A zero-length dash still draws its round cap: an empty gauge draws no value at all.
      value.setAttribute('class', `gauge-value ${tone(fraction)}${fraction === 0 ? ' empty' : ''}`);
      pct.textContent = `${Math.round(fraction * 100)}%`;
      el.dataset.used = String(d.used);
      el.dataset.limit = String(d.limit);
      fill(used, h('b', null, short(d.used)), h('span', { class: 'muted' }, ` / ${short(d.limit)}`));
      const left = Date.parse(d.resetAt) - nowMs;
      note.textContent = perMinute ? (d.used > 0 && left > 0 ? `frees fully in ${duration(left)}` : 'window empty') : `resets in ${duration(left)}`;
    },
  };
}

export const quotaPage: Page = {
  title: 'Quota',
  subtitle: 'Live use of each Google project’s limits, from the store every instance admits against',
  async render(ctx) {
    const [{ projects }, models] = await Promise.all([
      ctx.api.get<{ projects: Array<{ id: string; tier: string; kind?: string; pool?: string }> }>('/admin/projects'),
      ctx.api.get<ModelsAnswer>('/admin/models'),
    ]);
    const names = new Map(models.models.map((m) => [m.id, m.displayName]));
    const byId = new Map(projects.map((p) => [p.id, p]));
    const live = h('span', { class: 'live', 'data-testid': 'quota-live' }, h('span', { class: 'live-dot' }), h('span', { class: 'live-text' }, 'connecting…'));
    const resetTile = h('div', { class: 'reset', 'data-testid': 'quota-reset' });
    ctx.setToolbar(live);
    const sections = new Map<string, { el: HTMLElement; gauges: Map<string, Gauge>; cooldowns: Map<string, HTMLElement>; hidden: HTMLElement; models: string }>();
    const container = h('div', { class: 'projects' });
    fill(ctx.root, h('div', { class: 'reset-bar' }, icon('clock'), resetTile), container);

    let last: { answers: QuotaAnswer[]; offsetMs: number; at: number } | undefined;

    const render = () => {
      if (!last) return;
      const nowMs = Date.now() + last.offsetMs;
      for (const a of last.answers) {
        const callable = Object.entries(a.models).filter(([, dims]) => Object.values(dims).some((d) => d && d.limit > 0));
        const modelKey = callable.map(([m]) => m).join(',');
        let section = sections.get(a.project);
        if (!section || section.models !== modelKey) {
          section?.el.remove();
          const gauges = new Map<string, Gauge>();
          const cooldowns = new Map<string, HTMLElement>();
          const cards = callable.map(([model]) => {
            const cool = h('div', { class: 'cooldown', hidden: true, 'data-testid': `cooldown-${a.project}-${model}` });
            cooldowns.set(model, cool);
            return h(
              'div',
              { class: 'card model-quota', 'data-model': model },
              h('div', { class: 'card-head' }, h('div', null, h('h3', null, names.get(model) ?? model), h('code', { class: 'muted' }, model))),
              cool,
              h('div', { class: 'gauges' }, DIMENSIONS.map((d) => {
                const g = gauge(`${a.project}-${model}-${d.key}`, d.label, d.key !== 'rpd');
                gauges.set(`${model}|${d.key}`, g);
                return g.el;
              })),
            );
          });
          const hidden = h('p', { class: 'muted small' });
          const about = byId.get(a.project);
          const badges = [
            h('span', { class: 'badge info' }, a.tier),
            // Which pool admits on this project (#17), and whether it is reached through Vertex AI.
            about?.pool ? h('span', { class: 'badge', 'data-testid': `pool-${a.project}` }, `pool ${about.pool}`) : null,
            about?.kind === 'vertex' ? h('span', { class: 'badge' }, 'Vertex AI') : null,
          ].filter((b) => b !== null);
          const el = h('section', { class: 'project', 'data-project': a.project }, h('div', { class: 'project-head' }, h('h2', null, a.project), ...badges), h('div', { class: 'model-grid' }, cards), hidden);
          container.appendChild(el);
          section = { el, gauges, cooldowns, hidden, models: modelKey };
          sections.set(a.project, section);
        }
        const off = Object.keys(a.models).length - callable.length;
        section.hidden.textContent = off > 0 ? `${off} more model${off === 1 ? '' : 's'} not available on ${a.tier} (limit 0).` : '';
        for (const [model] of callable) {
          for (const d of DIMENSIONS) section.gauges.get(`${model}|${d.key}`)?.update(a.models[model]?.[d.key], nowMs);
          const cool = section.cooldowns.get(model)!;
          const c = a.cooldowns?.[model];
          const left = c ? Date.parse(c.until) - nowMs : 0;
          cool.hidden = left <= 0;
          if (left > 0) fill(cool, icon('alert', 'icon small'), h('span', null, 'Google answered 429: cooling down, '), h('b', null, `${duration(left)} left`));
        }
      }
      const rpdReset = last.answers.flatMap((a) => Object.values(a.models).map((d) => d.rpd?.resetAt)).find((x) => x !== undefined);
      if (rpdReset) fill(resetTile, 'Daily quotas reset at Pacific midnight, in ', h('b', null, duration(Date.parse(rpdReset) - nowMs)));
      const ago = Math.max(0, Math.round((Date.now() - last.at) / 1000));
      live.classList.toggle('stale', ago > (REFRESH_MS / 1000) * 3);
      live.querySelector('.live-text')!.textContent = ago < 2 ? 'Live' : `Live · updated ${ago}s ago`;
    };

    let stopped = false;
    let timer: number | undefined;
    const refresh = async () => {
      try {
        const answers = await Promise.all(projects.map((p) => ctx.api.get<QuotaAnswer>(`/admin/projects/${encodeURIComponent(p.id)}/quota`)));
        if (stopped) return;
        const fetchedAt = Date.now();
        last = { answers, offsetMs: Date.parse(answers[0]?.at ?? new Date(fetchedAt).toISOString()) - fetchedAt, at: fetchedAt };
        render();
      } catch {
        live.classList.add('stale');
      } finally {
        if (!stopped) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
      }
    };
    await refresh();
    const ticker = window.setInterval(render, 1_000);
    return () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(ticker);
    };
  },
};

/** Models: the model table as routed now, and what the last check against Google found. */
import { fill, h, icon } from '../dom.js';
import { date, time } from '../format.js';
import type { Page } from '../page.js';

type Limits = Partial<Record<'rpm' | 'tpm' | 'rpd' | 'ipm', number>>;

export interface ModelView {
  id: string;
  displayName: string;
  aliases: string[];
  stage: string;
  released: string;
  deprecatedAt: string | null;
  shutdownAt: string | null;
  replacement: string | null;
  retired: boolean;
  servedBy: string | null;
  imageSizes: string[];
  pricesUsdPerImage: { standard: Record<string, string>; batch: Record<string, string> };
  priceFrom: string;
  limits: Record<string, Limits>;
}

export interface ModelsAnswer {
  models: ModelView[];
  liveCheck: {
    checkedAt: string | null;
    findings: Array<{ kind: string; project: string; model: string; message: string; since: string }>;
    failures: Array<{ project: string; at: string; error: string }>;
  } | null;
}

interface ProjectsAnswer {
  projects: Array<{ id: string; tier: string }>;
}

/** Where a model stands: its badge and the row's highlight. */
function standing(m: ModelView, nowMs: number): { label: string; tone: 'good' | 'info' | 'warn' | 'bad' } {
  if (m.retired) return { label: 'retired', tone: 'bad' };
  if (m.stage === 'deprecated' || (m.deprecatedAt !== null && Date.parse(m.deprecatedAt) <= nowMs)) return { label: 'deprecated', tone: 'warn' };
  if (m.stage === 'ga') return { label: 'GA', tone: 'good' };
  return { label: m.stage, tone: 'info' };
}

function limitsText(l: Limits | undefined): string {
  if (!l) return '—';
  const dims = (['rpm', 'tpm', 'rpd', 'ipm'] as const).filter((d) => l[d] !== undefined);
  if (dims.length === 0) return 'unlimited';
  if (dims.every((d) => l[d] === 0)) return 'not available';
  return dims.map((d) => `${d.toUpperCase()} ${l[d]!.toLocaleString('en-US')}`).join(' · ');
}

export const modelsPage: Page = {
  title: 'Models',
  subtitle: 'What each name routes to, its lifecycle and its price per image',
  async render(ctx) {
    const [answer, projects] = await Promise.all([ctx.api.get<ModelsAnswer>('/admin/models'), ctx.api.get<ProjectsAnswer>('/admin/projects')]);
    const nowMs = Date.parse(ctx.session.now);
    const tiers = [...new Set(projects.projects.map((p) => p.tier))];
    const check = answer.liveCheck;
    const findings = check?.findings ?? [];
    const failures = check?.failures ?? [];
    const ok = check !== null && findings.length === 0 && failures.length === 0;
    const checkCard = h(
      'section',
      { class: `card check ${ok ? 'check-ok' : check === null ? 'check-none' : 'check-warn'}`, 'data-testid': 'live-check' },
      h(
        'div',
        { class: 'check-head' },
        icon(ok ? 'check' : check === null ? 'clock' : 'alert'),
        h(
          'div',
          null,
          h('strong', null, check === null ? 'Not checked against Google yet' : ok ? 'The table matches Google’s model list' : `${findings.length} finding${findings.length === 1 ? '' : 's'}${failures.length ? `, ${failures.length} project${failures.length === 1 ? '' : 's'} not checked` : ''}`),
          h('div', { class: 'muted' }, check?.checkedAt ? `Last live check ${time(check.checkedAt)}` : 'The gateway checks at start and every models.liveCheckHours'),
        ),
      ),
      findings.length + failures.length > 0
        ? h(
            'ul',
            { class: 'findings' },
            findings.map((f) => h('li', null, h('span', { class: 'badge warn' }, f.kind.replace('_', ' ')), h('code', null, f.model), h('span', null, f.message))),
            failures.map((f) => h('li', null, h('span', { class: 'badge bad' }, 'check failed'), h('code', null, f.project), h('span', null, f.error))),
          )
        : null,
    );
    const rows = answer.models.map((m) => {
      const st = standing(m, nowMs);
      const shutdownPast = m.shutdownAt !== null && Date.parse(m.shutdownAt) <= nowMs;
      const sizes = Object.keys(m.pricesUsdPerImage.standard);
      return h(
        'tr',
        { class: `stage-${st.tone}`, 'data-model': m.id },
        h('td', null, h('div', { class: 'model-name' }, m.displayName), h('code', { class: 'muted' }, m.id)),
        h(
          'td',
          null,
          m.aliases.length ? h('div', { class: 'chips' }, m.aliases.map((a) => h('code', { class: 'chip' }, a))) : h('span', { class: 'muted' }, '—'),
          m.retired ? null : tiers.map((t) => h('div', { class: 'small muted limits', 'data-testid': `limits-${t}` }, `${t}: ${limitsText(m.limits[t])}`)),
        ),
        h('td', null, h('span', { class: `badge ${st.tone}`, 'data-testid': 'stage' }, st.label), m.deprecatedAt && !m.retired ? h('div', { class: 'muted small' }, `since ${date(m.deprecatedAt)}`) : null),
        h('td', null, date(m.released)),
        h(
          'td',
          null,
          m.shutdownAt
            ? h('span', { class: `date ${shutdownPast ? 'bad' : 'warn'}`, 'data-testid': 'shutdown' }, shutdownPast ? icon('x', 'icon small') : icon('alert', 'icon small'), date(m.shutdownAt))
            : h('span', { class: 'muted' }, st.label === 'deprecated' ? 'not announced' : '—'),
          m.retired ? h('div', { class: 'muted small' }, m.servedBy ? `→ ${m.servedBy}` : 'refused (404)') : m.replacement ? h('div', { class: 'muted small' }, `successor ${m.replacement}`) : null,
        ),
        h(
          'td',
          null,
          m.retired
            ? h('span', { class: 'muted' }, '—')
            : h(
                'table',
                { class: 'prices' },
                h('tbody', null, sizes.map((size) => h('tr', null, h('th', null, m.imageSizes.length ? size : `~${size}`), h('td', { class: 'num' }, `$${m.pricesUsdPerImage.standard[size]}`), h('td', { class: 'num muted' }, `$${m.pricesUsdPerImage.batch[size]}`)))),
              ),
          m.retired ? null : h('div', { class: 'muted small' }, `prices from ${m.priceFrom}`),
        ),
      );
    });
    fill(
      ctx.root,
      checkCard,
      h(
        'section',
        { class: 'card flush' },
        h(
          'table',
          { class: 'table models', 'data-testid': 'models-table' },
          h('thead', null, h('tr', null, ['Model', 'Names and limits', 'Stage', 'Released', 'Shutdown', 'USD per image: standard / batch'].map((c) => h('th', null, c)))),
          h('tbody', null, rows),
        ),
      ),
    );
  },
};

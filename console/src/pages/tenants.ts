/**
 * Tenants and keys: every tenant with its limits and budget use; admin-made tenants can be
 * created, edited, disabled and deleted, and their keys created (shown once) and revoked.
 * Tenants from the config file are shown read-only: the gateway refuses to change them.
 */
import { ApiError } from '../api.js';
import { dialog, fill, h, icon, meter, toast, type Child } from '../dom.js';
import { date, micro, time, usd, usdLimit } from '../format.js';
import type { Page } from '../page.js';

type Limits = Partial<Record<'rpm' | 'tpm' | 'rpd' | 'ipm', number>>;
interface Budget {
  dailyUsd?: number;
  monthlyUsd?: number;
}
interface Tenant {
  id: string;
  project: string;
  limits: Limits;
  budget: Budget;
  source: 'config' | 'admin';
  disabled: boolean;
  createdAt?: string;
  keys?: Key[];
}
interface Key {
  id: string;
  name: string | null;
  createdAt: string;
  revokedAt: string | null;
}
interface BudgetPeriod {
  period: 'daily' | 'monthly';
  /** null: no budget for this period (its spend is shown alone). */
  limitUsd: string | null;
  spentUsd: string;
  heldUsd: string;
  remainingUsd: string | null;
  resetAt: string;
}
interface BudgetAnswer {
  tenant: string;
  periods: BudgetPeriod[];
}

const LIMIT_KEYS = ['rpm', 'tpm', 'rpd', 'ipm'] as const;

function limitChips(l: Limits): Child {
  const set = LIMIT_KEYS.filter((k) => l[k] !== undefined);
  if (set.length === 0) return h('span', { class: 'muted' }, 'project’s');
  return h('div', { class: 'chips' }, set.map((k) => h('span', { class: 'chip' }, `${k.toUpperCase()} ${l[k]!.toLocaleString('en-US')}`)));
}

/** Spent and held as two segments of one bar against the limit. */
function budgetBar(p: BudgetPeriod | undefined, testid: string): Child {
  if (!p || p.limitUsd === null || p.remainingUsd === null) return h('span', { class: 'muted' }, 'none');
  const limit = Number(micro(p.limitUsd));
  const spent = Number(micro(p.spentUsd));
  const held = Number(micro(p.heldUsd));
  const bar = h('div', { class: 'budget-bar' });
  const a = h('div', { class: 'budget-spent' });
  const b = h('div', { class: 'budget-held' });
  a.style.width = `${limit > 0 ? Math.min(100, (spent / limit) * 100) : 100}%`;
  b.style.width = `${limit > 0 ? Math.min(100 - Math.min(100, (spent / limit) * 100), (held / limit) * 100) : 0}%`;
  bar.append(a, b);
  const over = micro(p.remainingUsd) <= 0n;
  return h(
    'div',
    { class: `budget ${over ? 'budget-over' : ''}`, 'data-testid': testid, 'data-spent': p.spentUsd, 'data-held': p.heldUsd, 'data-remaining': p.remainingUsd },
    bar,
    h('div', { class: 'budget-text' }, h('b', null, usd(p.spentUsd)), h('span', { class: 'muted' }, ` of ${usdLimit(p.limitUsd)}`), micro(p.heldUsd) > 0n ? h('span', { class: 'held' }, ` · ${usd(p.heldUsd)} held`) : null),
  );
}

function numberInput(name: string, value: number | undefined, placeholder: string, step = '1'): HTMLInputElement {
  return h('input', { type: 'number', min: 0, step, name, value: value === undefined ? undefined : String(value), placeholder, 'data-field': name });
}

/** The limits and budget fields of the create and edit forms; blank means "none". */
function settingsFields(projects: string[], t?: Tenant): { el: HTMLElement; read(): { project: string; limits: Limits; budget: Budget } } {
  const project = h('select', { name: 'project', 'data-field': 'project' }, projects.map((p) => h('option', { value: p, selected: t?.project === p }, p)));
  const limits = LIMIT_KEYS.map((k) => ({ k, input: numberInput(k, t?.limits[k], 'project’s') }));
  const daily = numberInput('dailyUsd', t?.budget.dailyUsd, 'none', '0.01');
  const monthly = numberInput('monthlyUsd', t?.budget.monthlyUsd, 'none', '0.01');
  const el = h(
    'div',
    { class: 'form-grid' },
    h('label', null, 'Project', project),
    h('fieldset', null, h('legend', null, 'Limits (a share of the project’s)'), h('div', { class: 'fields-4' }, limits.map(({ k, input }) => h('label', null, k.toUpperCase(), input)))),
    h('fieldset', null, h('legend', null, 'Budget in USD (Pacific day and month)'), h('div', { class: 'fields-2' }, h('label', null, 'Daily', daily), h('label', null, 'Monthly', monthly))),
  );
  const num = (i: HTMLInputElement) => (i.value.trim() === '' ? undefined : Number(i.value));
  return {
    el,
    read() {
      const l: Limits = {};
      for (const { k, input } of limits) {
        const v = num(input);
        if (v !== undefined) l[k] = v;
      }
      const b: Budget = {};
      const d = num(daily);
      const m = num(monthly);
      if (d !== undefined) b.dailyUsd = d;
      if (m !== undefined) b.monthlyUsd = m;
      return { project: project.value, limits: l, budget: b };
    },
  };
}

/** The key, once: with a copy button, and a warning that it will not be shown again. */
function showKeyOnce(tenant: string, key: { id: string; key: string }): void {
  const field = h('input', { class: 'mono key-field', readonly: true, value: key.key, 'data-testid': 'new-key' });
  const copy = h('button', { type: 'button', class: 'button secondary', 'data-testid': 'copy-key' }, icon('copy'), 'Copy');
  copy.addEventListener('click', () => {
    const done = () => {
      copy.replaceChildren(icon('check'), 'Copied');
      toast('Key copied to the clipboard');
    };
    if (navigator.clipboard && window.isSecureContext) void navigator.clipboard.writeText(key.key).then(done, () => toast('Copy failed: select the key and copy it', 'error'));
    else {
      // Plain http on another host: no clipboard API; the selection and the old command do it.
      field.select();
      if (document.execCommand('copy')) done();
    }
  });
  dialog(
    `New key for ${tenant}`,
    h(
      'div',
      null,
      h('p', { class: 'notice' }, icon('alert', 'icon small'), 'This is the only time the key is shown: the gateway keeps only its hash. Copy it now.'),
      h('div', { class: 'key-row' }, field, copy),
      h('p', { class: 'muted small' }, `Key id ${key.id}. Clients send it as Authorization: Bearer … or x-goog-api-key.`),
    ),
    (close) => h('button', { type: 'button', class: 'button primary', on: { click: close } }, 'Done'),
  );
  field.select();
}

function confirmDialog(title: string, text: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false;
    const { closed } = dialog(title, h('p', null, text), (close) => [
      h('button', { type: 'button', class: 'button secondary', on: { click: close } }, 'Cancel'),
      h('button', { type: 'button', class: 'button danger', 'data-testid': 'confirm', on: { click: () => { answer = true; close(); } } }, action),
    ]);
    void closed.then(() => resolve(answer));
  });
}

function errorText(err: unknown): string {
  return err instanceof ApiError ? err.message : (err as Error).message;
}

export const tenantsPage: Page = {
  title: 'Tenants & keys',
  subtitle: 'Who may call the gateway, with what limits and budgets',
  async render(ctx) {
    const { projects } = await ctx.api.get<{ projects: Array<{ id: string }> }>('/admin/projects');
    const projectIds = projects.map((p) => p.id);
    const list = h('section', { class: 'card flush' });
    const detail = h('aside', { class: 'drawer', hidden: true, 'data-testid': 'tenant-drawer' });
    fill(ctx.root, list, detail);
    let selected: string | undefined;

    ctx.setToolbar(h('button', { type: 'button', class: 'button primary', 'data-testid': 'new-tenant', on: { click: () => createTenant() } }, icon('plus'), 'New tenant'));

    const budgetOf = async (id: string): Promise<BudgetAnswer | undefined> => {
      try {
        return await ctx.api.get<BudgetAnswer>(`/admin/tenants/${encodeURIComponent(id)}/budget`);
      } catch {
        return undefined;
      }
    };

    async function loadList(): Promise<void> {
      const { tenants } = await ctx.api.get<{ tenants: Tenant[] }>('/admin/tenants');
      const budgets = await Promise.all(tenants.map((t) => (t.budget.dailyUsd !== undefined || t.budget.monthlyUsd !== undefined ? budgetOf(t.id) : Promise.resolve(undefined))));
      const keys = await Promise.all(tenants.map((t) => (t.source === 'admin' ? ctx.api.get<{ keys: Key[] }>(`/admin/tenants/${encodeURIComponent(t.id)}/keys`).then((k) => k.keys, () => [] as Key[]) : Promise.resolve(undefined))));
      const rows = tenants.map((t, i) => {
        const b = budgets[i];
        const period = (p: 'daily' | 'monthly') => b?.periods.find((x) => x.period === p);
        const live = keys[i]?.filter((k) => k.revokedAt === null).length;
        return h(
          'tr',
          { class: `clickable ${t.id === selected ? 'selected' : ''}`, 'data-tenant': t.id, on: { click: () => void openTenant(t.id) } },
          h('td', null, h('div', { class: 'tenant-name' }, t.id), t.source === 'config' ? h('span', { class: 'badge neutral' }, icon('lock', 'icon tiny'), 'config file') : null),
          h('td', null, h('code', null, t.project)),
          h('td', null, limitChips(t.limits)),
          h('td', null, budgetBar(period('daily'), `budget-daily-${t.id}`)),
          h('td', null, budgetBar(period('monthly'), `budget-monthly-${t.id}`)),
          h('td', { class: 'num' }, live === undefined ? h('span', { class: 'muted' }, 'in config') : String(live)),
          h('td', null, t.disabled ? h('span', { class: 'badge bad' }, 'disabled') : h('span', { class: 'badge good' }, 'active')),
        );
      });
      fill(
        list,
        h(
          'table',
          { class: 'table tenants', 'data-testid': 'tenants-table' },
          h('thead', null, h('tr', null, ['Tenant', 'Project', 'Limits', 'Daily budget', 'Monthly budget', 'Keys', 'Status'].map((c, i) => h('th', { class: i === 5 ? 'num' : undefined }, c)))),
          h('tbody', null, rows),
        ),
        tenants.length === 0 ? h('div', { class: 'empty' }, 'No tenants yet: create one.') : null,
      );
    }

    async function openTenant(id: string): Promise<void> {
      selected = id;
      for (const tr of list.querySelectorAll('tr[data-tenant]')) tr.classList.toggle('selected', (tr as HTMLElement).dataset.tenant === id);
      const [t, budget] = await Promise.all([ctx.api.get<Tenant>(`/admin/tenants/${encodeURIComponent(id)}`), budgetOf(id)]);
      if (selected !== id) return;
      renderDetail(t, budget);
    }

    function closeDetail(): void {
      selected = undefined;
      detail.hidden = true;
      for (const tr of list.querySelectorAll('tr.selected')) tr.classList.remove('selected');
    }

    function renderDetail(t: Tenant, budget: BudgetAnswer | undefined): void {
      detail.hidden = false;
      const readOnly = t.source === 'config';
      const head = h(
        'div',
        { class: 'drawer-head' },
        h('div', null, h('h2', null, t.id), h('div', { class: 'muted small' }, readOnly ? 'From the config file: read-only here, change it there.' : `Created ${t.createdAt ? date(t.createdAt) : ''}`)),
        h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', on: { click: closeDetail } }, icon('x')),
      );
      const budgetSection = h(
        'section',
        { class: 'drawer-section' },
        h('h3', null, 'Budget'),
        budget && budget.periods.some((p) => p.limitUsd !== null)
          ? budget.periods.filter((p) => p.limitUsd !== null).map((p) =>
              h(
                'div',
                { class: 'budget-detail', 'data-testid': `budget-${p.period}` },
                h('div', { class: 'budget-detail-head' }, h('b', null, p.period === 'daily' ? 'Today' : 'This month'), h('span', { class: 'muted small' }, `resets in ${Math.max(0, Math.round((Date.parse(p.resetAt) - Date.parse(ctx.session.now)) / 3_600_000))}h`)),
                budgetBar(p, `budget-bar-${p.period}`),
                h(
                  'dl',
                  { class: 'triple' },
                  h('div', null, h('dt', null, 'Spent'), h('dd', { 'data-testid': `spent-${p.period}` }, usd(p.spentUsd))),
                  h('div', null, h('dt', null, 'Held'), h('dd', { 'data-testid': `held-${p.period}` }, usd(p.heldUsd))),
                  h('div', null, h('dt', null, 'Remaining'), h('dd', { 'data-testid': `remaining-${p.period}` }, usd(p.remainingUsd ?? '0.000000'))),
                ),
              ),
            )
          : h(
              'p',
              { class: 'muted' },
              'No budget: calls are limited by quota only.',
              budget ? ` Spent today ${usd(budget.periods[0]?.spentUsd ?? '0.000000')}, this month ${usd(budget.periods[1]?.spentUsd ?? '0.000000')}.` : '',
            ),
      );
      const settings = settingsFields(projectIds, t);
      if (readOnly) for (const el of settings.el.querySelectorAll('input, select')) (el as HTMLInputElement).disabled = true;
      const error = h('p', { class: 'form-error', role: 'alert' });
      const settingsSection = h(
        'form',
        {
          class: 'drawer-section',
          on: {
            submit: (e) => {
              e.preventDefault();
              const v = settings.read();
              ctx.api
                .patch(`/admin/tenants/${encodeURIComponent(t.id)}`, v)
                .then(() => {
                  toast(`Saved ${t.id}`);
                  void refresh(t.id);
                })
                .catch((err: unknown) => (error.textContent = errorText(err)));
            },
          },
        },
        h('h3', null, 'Limits and budget'),
        settings.el,
        error,
        readOnly
          ? null
          : h(
              'div',
              { class: 'row-actions' },
              h('button', { type: 'submit', class: 'button primary', 'data-testid': 'save-tenant' }, 'Save'),
              h(
                'button',
                {
                  type: 'button',
                  class: 'button secondary',
                  'data-testid': 'toggle-tenant',
                  on: {
                    click: () =>
                      void ctx.api
                        .patch(`/admin/tenants/${encodeURIComponent(t.id)}`, { disabled: !t.disabled })
                        .then(() => {
                          toast(`${t.id} ${t.disabled ? 'enabled' : 'disabled'}`);
                          void refresh(t.id);
                        })
                        .catch((err: unknown) => toast(errorText(err), 'error')),
                  },
                },
                t.disabled ? 'Enable' : 'Disable',
              ),
              h(
                'button',
                {
                  type: 'button',
                  class: 'button danger-outline',
                  on: {
                    click: () =>
                      void confirmDialog(`Delete ${t.id}?`, 'Its keys stop working at once. Its usage records stay.', 'Delete tenant').then((yes) => {
                        if (!yes) return;
                        ctx.api
                          .delete(`/admin/tenants/${encodeURIComponent(t.id)}`)
                          .then(() => {
                            toast(`Deleted ${t.id}`);
                            closeDetail();
                            void loadList();
                          })
                          .catch((err: unknown) => toast(errorText(err), 'error'));
                      }),
                  },
                },
                'Delete',
              ),
            ),
      );
      const keysSection = h('section', { class: 'drawer-section' }, h('h3', null, 'Keys'));
      if (readOnly) keysSection.append(h('p', { class: 'muted' }, 'Its keys are hashes in the config file.'));
      else {
        const name = h('input', { type: 'text', placeholder: 'Key name (e.g. ci)', maxlength: 200, 'data-testid': 'key-name' });
        const keys = t.keys ?? [];
        keysSection.append(
          h(
            'form',
            {
              class: 'inline-form',
              on: {
                submit: (e) => {
                  e.preventDefault();
                  ctx.api
                    .post<{ id: string; key: string }>(`/admin/tenants/${encodeURIComponent(t.id)}/keys`, name.value.trim() ? { name: name.value.trim() } : {})
                    .then((k) => {
                      showKeyOnce(t.id, k);
                      void refresh(t.id);
                    })
                    .catch((err: unknown) => toast(errorText(err), 'error'));
                },
              },
            },
            name,
            h('button', { type: 'submit', class: 'button primary', 'data-testid': 'create-key' }, icon('key'), 'Create key'),
          ),
          keys.length === 0
            ? h('p', { class: 'muted' }, 'No keys yet.')
            : h(
                'table',
                { class: 'table compact', 'data-testid': 'keys-table' },
                h('tbody', null, [...keys].reverse().map((k) =>
                  h(
                    'tr',
                    { 'data-key': k.id, class: k.revokedAt ? 'revoked' : undefined },
                    h('td', null, h('div', null, k.name ?? h('span', { class: 'muted' }, 'unnamed')), h('code', { class: 'muted small' }, k.id)),
                    h('td', { class: 'small muted' }, k.revokedAt ? `revoked ${time(k.revokedAt)}` : `created ${time(k.createdAt)}`),
                    h(
                      'td',
                      { class: 'num' },
                      k.revokedAt
                        ? h('span', { class: 'badge neutral' }, 'revoked')
                        : h(
                            'button',
                            {
                              type: 'button',
                              class: 'button small danger-outline',
                              'data-testid': `revoke-${k.id}`,
                              on: {
                                click: () =>
                                  void confirmDialog(`Revoke ${k.name ?? k.id}?`, 'Calls with this key are refused from now on, on every instance within seconds.', 'Revoke key').then((yes) => {
                                    if (!yes) return;
                                    ctx.api
                                      .delete(`/admin/tenants/${encodeURIComponent(t.id)}/keys/${encodeURIComponent(k.id)}`)
                                      .then(() => {
                                        toast('Key revoked');
                                        void refresh(t.id);
                                      })
                                      .catch((err: unknown) => toast(errorText(err), 'error'));
                                  }),
                              },
                            },
                            'Revoke',
                          ),
                    ),
                  ),
                )),
              ),
        );
      }
      fill(detail, head, budgetSection, settingsSection, keysSection);
    }

    async function refresh(id?: string): Promise<void> {
      await loadList();
      if (id && selected === id) await openTenant(id);
    }

    function createTenant(): void {
      const id = h('input', { type: 'text', name: 'id', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}', placeholder: 'design-team', 'data-testid': 'tenant-id' });
      const settings = settingsFields(projectIds);
      const error = h('p', { class: 'form-error', role: 'alert' });
      const form = h('form', { class: 'form-grid', id: 'create-tenant' }, h('label', null, 'Tenant id', id), settings.el, error);
      const { el } = dialog('New tenant', form, (close) => [
        h('button', { type: 'button', class: 'button secondary', on: { click: close } }, 'Cancel'),
        h('button', { type: 'submit', form: 'create-tenant', class: 'button primary', 'data-testid': 'create-tenant' }, 'Create tenant'),
      ]);
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        ctx.api
          .post<Tenant>('/admin/tenants', { id: id.value.trim(), ...settings.read() })
          .then((t) => {
            el.close();
            toast(`Created ${t.id}`);
            void refresh().then(() => openTenant(t.id));
          })
          .catch((err: unknown) => (error.textContent = errorText(err)));
      });
      id.focus();
    }

    await loadList();
    return () => closeDetail();
  },
};


/**
 * The admin console (#18): sign-in, the frame (sidebar, title bar) and a hash router over the
 * five pages. Everything it shows comes from the admin API with the session cookie.
 */
import { Api, ApiError, currentSession, signIn, signOut, type SessionInfo } from './api.js';
import { fill, h, icon } from './dom.js';
import { duration } from './format.js';
import type { Page } from './page.js';
import { spendPage } from './pages/spend.js';
import { quotaPage } from './pages/quota.js';
import { tenantsPage } from './pages/tenants.js';
import { modelsPage } from './pages/models.js';
import { callsPage } from './pages/calls.js';

const PAGES: ReadonlyArray<{ route: string; icon: string; label: string; page: Page }> = [
  { route: 'spend', icon: 'spend', label: 'Spend', page: spendPage },
  { route: 'quota', icon: 'quota', label: 'Quota', page: quotaPage },
  { route: 'tenants', icon: 'tenants', label: 'Tenants & keys', page: tenantsPage },
  { route: 'models', icon: 'models', label: 'Models', page: modelsPage },
  { route: 'calls', icon: 'calls', label: 'Recent calls', page: callsPage },
];

const app = document.getElementById('app')!;
const api = new Api();

function logo(): HTMLElement {
  return h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', { class: 'brand-name' }, 'nanogate'), h('span', { class: 'brand-tag' }, 'admin'));
}

function showSignIn(message?: string): void {
  document.title = 'Sign in · nanogate';
  // A username beside the password, as password managers and Chrome expect; there is only one admin.
  const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', value: 'admin', hidden: true, readonly: true });
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', placeholder: 'ADMIN_TOKEN', required: true, 'data-testid': 'signin-token' });
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'signin-error' }, message ?? '');
  const button = h('button', { class: 'button primary wide', type: 'submit', 'data-testid': 'signin-submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin-card',
      on: {
        submit: (e) => {
          e.preventDefault();
          button.disabled = true;
          error.textContent = '';
          signIn(input.value)
            .then((session) => {
              input.value = '';
              start(session);
            })
            .catch((err: unknown) => {
              error.textContent = err instanceof ApiError && err.status === 401 ? 'That is not the admin token.' : (err as Error).message;
              button.disabled = false;
              input.select();
            });
        },
      },
    },
    logo(),
    h('h1', null, 'Sign in to the console'),
    h('p', { class: 'muted' }, 'Use the gateway’s admin token (ADMIN_TOKEN). It is checked once; the browser keeps only a session cookie.'),
    h('label', { for: 'token' }, 'Admin token'),
    user,
    input,
    error,
    button,
  );
  fill(app, h('main', { class: 'signin' }, form));
  input.focus();
}

let leavePage: (() => void) | undefined;
let session: SessionInfo | undefined;

function start(s: SessionInfo): void {
  session = s;
  api.csrf = s.csrfToken;
  api.onSignedOut = () => {
    leavePage?.();
    leavePage = undefined;
    session = undefined;
    showSignIn('Your session has ended; sign in again.');
  };
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Pages' },
    PAGES.map((p) => h('a', { href: `#/${p.route}`, class: 'nav-item', 'data-route': p.route, 'data-testid': `nav-${p.route}` }, icon(p.icon), h('span', null, p.label))),
  );
  const expires = h('span', { class: 'session-left', title: `Session expires ${new Date(s.expiresAt).toLocaleString()}` });
  const sidebar = h(
    'aside',
    { class: 'sidebar' },
    logo(),
    nav,
    h(
      'div',
      { class: 'sidebar-foot' },
      h('div', { class: 'session' }, icon('clock', 'icon small'), expires),
      h(
        'button',
        {
          class: 'nav-item signout',
          type: 'button',
          'data-testid': 'signout',
          on: {
            click: () => {
              void signOut(s.csrfToken).finally(() => {
                leavePage?.();
                leavePage = undefined;
                session = undefined;
                showSignIn();
              });
            },
          },
        },
        icon('logout'),
        h('span', null, 'Sign out'),
      ),
    ),
  );
  const title = h('h1', { 'data-testid': 'page-title' });
  const subtitle = h('p', { class: 'muted' });
  const toolbar = h('div', { class: 'toolbar' });
  const content = h('div', { class: 'content' });
  fill(app, h('div', { class: 'shell' }, sidebar, h('main', { class: 'main' }, h('header', { class: 'page-head' }, h('div', null, title, subtitle), toolbar), content)));

  // The expiry is on the gateway's clock: count down from what it said "now" was.
  const offsetMs = Date.parse(s.now) - Date.now();
  const tick = () => {
    if (session !== s) return clearInterval(ticker);
    expires.textContent = `Session: ${duration(Date.parse(s.expiresAt) - (Date.now() + offsetMs))} left`;
  };
  const ticker = setInterval(tick, 30_000);
  tick();

  const route = async () => {
    if (session !== s) return;
    const name = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] || 'spend';
    const entry = PAGES.find((p) => p.route === name) ?? PAGES[0]!;
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.route === entry.route);
    leavePage?.();
    leavePage = undefined;
    document.title = `${entry.page.title} · nanogate`;
    title.textContent = entry.page.title;
    subtitle.textContent = entry.page.subtitle;
    fill(toolbar);
    const root = h('div', { class: 'page', 'data-page': entry.route });
    fill(content, root);
    try {
      const leave = await entry.page.render({ api, session: s, root, setToolbar: (...c) => fill(toolbar, ...c) });
      if (leave) {
        if (root.isConnected) leavePage = leave;
        else leave();
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      fill(root, h('div', { class: 'card error-card' }, icon('alert'), h('div', null, h('strong', null, 'This page could not load'), h('p', null, (err as Error).message))));
    }
  };
  window.onhashchange = () => void route();
  void route();
}

currentSession()
  .then((s) => (s ? start(s) : showSignIn()))
  .catch((err: unknown) => showSignIn((err as Error).message));

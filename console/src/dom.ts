/**
 * A few helpers to build the page with DOM calls only: no innerHTML (no markup from data, so
 * nothing a tenant name holds can run), no style attributes (the CSP forbids them; sizes go
 * through element.style, the CSSOM, which it allows).
 */
export type Child = Node | string | number | null | undefined | false | readonly Child[];

export interface Props {
  class?: string | undefined;
  /** Event listeners by event name. */
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
  /** Any other attribute; undefined and false leave it out, true sets it empty. */
  [attribute: string]: unknown;
}

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child as readonly Child[]) append(parent, c);
    return;
  }
  parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

function applyProps(el: Element, props: Props | null | undefined): void {
  if (!props) return;
  for (const [name, value] of Object.entries(props)) {
    if (name === 'on') {
      for (const [event, listener] of Object.entries(value as Record<string, EventListener>)) el.addEventListener(event, listener);
    } else if (name === 'class') {
      if (value) el.setAttribute('class', String(value));
    } else if (name === 'style') {
      throw new Error('style attributes are refused by the CSP: use a class or element.style');
    } else if (value === true) el.setAttribute(name, '');
    else if (value !== undefined && value !== false && value !== null) el.setAttribute(name, String(value));
  }
}

/** An HTML element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  applyProps(el, props);
  for (const c of children) append(el, c);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element (icons, gauges). */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  for (const c of children) append(el, c);
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  for (const c of children) append(el, c);
}

/** Icons as 24x24 stroke paths (drawn in the spirit of Lucide). */
const ICONS: Record<string, string[]> = {
  spend: ['M3 3v18h18', 'M7 15l4-4 3 3 5-6'],
  quota: ['M12 14l4-4', 'M3.3 19a9 9 0 1 1 17.4 0'],
  tenants: ['M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2', 'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8', 'M22 21v-2a4 4 0 0 0-3-3.87', 'M16 3.13a4 4 0 0 1 0 7.75'],
  models: ['M12 2l9 5-9 5-9-5 9-5z', 'M3 12l9 5 9-5', 'M3 17l9 5 9-5'],
  calls: ['M4 6h16', 'M4 12h16', 'M4 18h10'],
  key: ['M15.5 7.5a4.5 4.5 0 1 1-6.36 6.36 4.5 4.5 0 0 1 6.36-6.36z', 'M9 15l-6 6', 'M6 18l2 2'],
  copy: ['M9 9h11v11H9z', 'M5 15H4V4h11v1'],
  download: ['M12 3v12', 'M7 10l5 5 5-5', 'M5 21h14'],
  refresh: ['M21 12a9 9 0 1 1-3-6.7', 'M21 3v6h-6'],
  logout: ['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'M16 17l5-5-5-5', 'M21 12H9'],
  plus: ['M12 5v14', 'M5 12h14'],
  lock: ['M5 11h14v10H5z', 'M8 11V7a4 4 0 0 1 8 0v4'],
  alert: ['M12 3l10 18H2L12 3z', 'M12 10v5', 'M12 18h.01'],
  check: ['M5 12l5 5 9-10'],
  x: ['M6 6l12 12', 'M18 6L6 18'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3 2'],
};

export function icon(name: keyof typeof ICONS | string, cls = 'icon'): SVGSVGElement {
  return s(
    'svg',
    { class: cls, viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true' },
    (ICONS[name] ?? []).map((d) => s('path', { d })),
  );
}

/** A short message at the bottom of the screen that goes by itself. */
export function toast(message: string, kind: 'ok' | 'error' = 'ok'): void {
  let tray = document.getElementById('toasts');
  if (!tray) {
    tray = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(tray);
  }
  const t = h('div', { class: `toast toast-${kind}` }, icon(kind === 'ok' ? 'check' : 'alert'), h('span', null, message));
  tray.appendChild(t);
  setTimeout(() => t.remove(), kind === 'ok' ? 3500 : 7000);
}

/** A modal dialog; resolves when it closes. */
export function dialog(title: string, body: Child, actions: (close: () => void) => Child): { el: HTMLDialogElement; closed: Promise<void> } {
  const el = h('dialog', { class: 'dialog' });
  const close = () => el.close();
  fill(
    el,
    h('div', { class: 'dialog-head' }, h('h2', null, title), h('button', { class: 'icon-button', type: 'button', 'aria-label': 'Close', on: { click: close } }, icon('x'))),
    h('div', { class: 'dialog-body' }, body),
    h('div', { class: 'dialog-actions' }, actions(close)),
  );
  document.body.appendChild(el);
  const closed = new Promise<void>((resolve) => el.addEventListener('close', () => {
    el.remove();
    resolve();
  }));
  el.showModal();
  return { el, closed };
}

/** A colour dot for a series (its colour set through the CSSOM). */
export function swatch(color: string): HTMLSpanElement {
  const el = h('span', { class: 'swatch' });
  el.style.background = color;
  return el;
}

/** A bar filled to `fraction` (0..1), for budgets and shares. */
export function meter(fraction: number, cls = '', color?: string): HTMLDivElement {
  const bar = h('div', { class: 'meter-fill' });
  if (color) bar.style.background = color;
  bar.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  return h('div', { class: `meter ${cls}` }, bar);
}

import type { Api, SessionInfo } from './api.js';
import type { Child } from './dom.js';

export interface PageContext {
  api: Api;
  session: SessionInfo;
  /** The page's own area. */
  root: HTMLElement;
  /** Controls shown at the right of the page's title bar. */
  setToolbar(...children: Child[]): void;
}

/** A page renders into its root; what it returns is called when the page is left (timers, observers). */
export interface Page {
  title: string;
  subtitle: string;
  render(ctx: PageContext): Promise<(() => void) | void>;
}

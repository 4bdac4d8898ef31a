/**
 * The admin API as the console calls it: same origin, the session cookie (sent by the browser,
 * unreadable to this code), and the session's CSRF token on every request that changes state.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

interface NoSession {
  signedIn: false;
}

export interface SessionInfo {
  signedIn: true;
  csrfToken: string;
  expiresAt: string;
  now: string;
  today: string;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let code = 'error';
  let message = `${res.status} ${res.statusText}`;
  let param: string | undefined;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; param?: string } };
    if (body.error?.message) message = body.error.message;
    if (body.error?.code) code = body.error.code;
    param = body.error?.param;
  } catch {
    // not JSON: the status says enough
  }
  return new ApiError(res.status, code, message, param);
}

export class Api {
  #csrf = '';
  /** Called when the session is gone (expired, signed out elsewhere): the page goes back to sign-in. */
  onSignedOut: () => void = () => {};

  set csrf(token: string) {
    this.#csrf = token;
  }

  async #send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (method !== 'GET') headers['x-csrf-token'] = this.#csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) {
      const err = await errorFrom(res);
      if (res.status === 401) this.onSignedOut();
      throw err;
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.#send<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.#send<T>('POST', path, body ?? {});
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.#send<T>('PATCH', path, body);
  }

  delete(path: string): Promise<void> {
    return this.#send<void>('DELETE', path);
  }
}

/** The session, if the browser has one. */
export async function currentSession(): Promise<SessionInfo | undefined> {
  const res = await fetch('/admin/console/session', { credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) throw await errorFrom(res);
  const body = (await res.json()) as SessionInfo | NoSession;
  return body.signedIn ? body : undefined;
}

export async function signIn(token: string): Promise<SessionInfo> {
  const res = await fetch('/admin/console/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ token }),
  });
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as SessionInfo;
}

export async function signOut(csrfToken: string): Promise<void> {
  await fetch('/admin/console/session', { method: 'DELETE', headers: { 'x-csrf-token': csrfToken }, credentials: 'same-origin' });
}

export const q = (params: Record<string, string | number | undefined>): string => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  return u.toString();
};

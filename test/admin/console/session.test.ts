import { describe, expect, it } from 'vitest';
import { ConsoleSessions, readCookie } from '../../../src/admin/console/session.js';
import { ManualClock } from '../../../src/time/clock.js';

const TOKEN = 'an-admin-token-of-at-least-32-characters';

describe('console sessions', () => {
  it('accepts the token it issued until it expires, and nothing in it is the admin token', () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const sessions = new ConsoleSessions({ adminToken: TOKEN, clock, ttlMs: 60_000 });
    const { session, token } = sessions.issue();
    expect(token).not.toContain(TOKEN);
    expect(sessions.verify(token)).toEqual(session);
    clock.advance(59_999);
    expect(sessions.verify(token)).toEqual(session);
    clock.advance(1);
    expect(sessions.verify(token)).toBeUndefined();
  });

  it('is accepted by every instance that shares the admin token, and by none that does not', () => {
    const clock = new ManualClock('2026-11-27T18:00:00Z');
    const { token } = new ConsoleSessions({ adminToken: TOKEN, clock }).issue();
    expect(new ConsoleSessions({ adminToken: TOKEN, clock }).verify(token)).toBeDefined();
    expect(new ConsoleSessions({ adminToken: `${TOKEN}-rotated`, clock }).verify(token)).toBeUndefined();
  });

  it.each([
    ['a changed expiry', (t: string) => t.replace(/^v1\.[0-9a-z]+\./, 'v1.zzzzzzzz.')],
    ['a changed nonce', (t: string) => t.replace(/^(v1\.[0-9a-z]+\.)./, (_m, p: string) => `${p}${t[p.length] === 'A' ? 'B' : 'A'}`)],
    ['a changed signature', (t: string) => `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`],
    ['no signature', (t: string) => t.slice(0, t.lastIndexOf('.'))],
    ['another version', (t: string) => t.replace(/^v1/, 'v2')],
    ['nothing', () => ''],
  ])('refuses a token with %s', (_name, tamper) => {
    const sessions = new ConsoleSessions({ adminToken: TOKEN, clock: new ManualClock('2026-11-27T18:00:00Z') });
    const { token } = sessions.issue();
    expect(sessions.verify(tamper(token))).toBeUndefined();
  });

  it('refuses a session signed out here', () => {
    const sessions = new ConsoleSessions({ adminToken: TOKEN, clock: new ManualClock('2026-11-27T18:00:00Z') });
    const a = sessions.issue();
    const b = sessions.issue();
    sessions.end(a.session);
    expect(sessions.verify(a.token)).toBeUndefined();
    expect(sessions.verify(b.token)).toEqual(b.session);
  });

  it('gives each session its own CSRF token, which matches only that session', () => {
    const sessions = new ConsoleSessions({ adminToken: TOKEN, clock: new ManualClock('2026-11-27T18:00:00Z') });
    const a = sessions.issue().session;
    const b = sessions.issue().session;
    expect(a.csrfToken).not.toBe(b.csrfToken);
    expect(sessions.csrfMatches(a, a.csrfToken)).toBe(true);
    expect(sessions.csrfMatches(a, b.csrfToken)).toBe(false);
    expect(sessions.csrfMatches(a, undefined)).toBe(false);
    expect(sessions.csrfMatches(a, [a.csrfToken, a.csrfToken])).toBe(false);
    expect(sessions.csrfMatches(a, `${a.csrfToken}, ${a.csrfToken}`)).toBe(false);
  });

  it('sets an HttpOnly, SameSite=Strict cookie on /admin with an expiry, Secure only over TLS', () => {
    const sessions = new ConsoleSessions({ adminToken: TOKEN, clock: new ManualClock('2026-11-27T18:00:00Z'), ttlMs: 8 * 3600_000 });
    expect(sessions.cookie('v', false)).toBe('nanogate_console=v; Path=/admin; Max-Age=28800; HttpOnly; SameSite=Strict');
    expect(sessions.cookie('v', true)).toBe('nanogate_console=v; Path=/admin; Max-Age=28800; HttpOnly; SameSite=Strict; Secure');
    expect(sessions.clearCookie(false)).toBe('nanogate_console=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict');
  });

  it('reads a cookie by its exact name', () => {
    expect(readCookie('a=1; nanogate_console=x.y; b=2', 'nanogate_console')).toBe('x.y');
    expect(readCookie('xnanogate_console=1', 'nanogate_console')).toBeUndefined();
    expect(readCookie(undefined, 'nanogate_console')).toBeUndefined();
  });
});

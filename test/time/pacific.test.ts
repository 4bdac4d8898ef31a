import { describe, expect, it } from 'vitest';
import { isCalendarDay, nextPacificMidnightMs, nextPacificMonthStartMs, pacificDay, pacificDayStartMs } from '../../src/time/pacific.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('Pacific calendar', () => {
  it.each([
    ['2026-03-08T07:59:59.999Z', '2026-03-07', '2026-03-08T08:00:00.000Z'],
    ['2026-03-08T08:00:00.000Z', '2026-03-08', '2026-03-09T07:00:00.000Z'],
    ['2026-03-09T06:59:59.999Z', '2026-03-08', '2026-03-09T07:00:00.000Z'],
    ['2026-11-01T06:59:59.999Z', '2026-10-31', '2026-11-01T07:00:00.000Z'],
    ['2026-11-01T07:00:00.000Z', '2026-11-01', '2026-11-02T08:00:00.000Z'],
    ['2026-11-02T07:59:59.999Z', '2026-11-01', '2026-11-02T08:00:00.000Z'],
    ['2026-11-02T08:00:00.000Z', '2026-11-02', '2026-11-03T08:00:00.000Z'],
  ])('at %s the day is %s and the next reset is %s', (now, day, reset) => {
    expect(pacificDay(at(now))).toBe(day);
    expect(iso(nextPacificMidnightMs(at(now)))).toBe(reset);
  });

  it('makes the spring-forward day 23 hours and the fall-back day 25 hours long', () => {
    const hours = (d: string, next: string) => (pacificDayStartMs(next) - pacificDayStartMs(d)) / 3_600_000;
    expect(hours('2026-03-08', '2026-03-09')).toBe(23);
    expect(hours('2026-11-01', '2026-11-02')).toBe(25);
    expect(hours('2026-06-15', '2026-06-16')).toBe(24);
  });

  it('starts months at Pacific midnight on the first', () => {
    expect(iso(nextPacificMonthStartMs(at('2026-10-31T12:00:00Z')))).toBe('2026-11-01T07:00:00.000Z');
    expect(iso(nextPacificMonthStartMs(at('2026-12-31T12:00:00Z')))).toBe('2027-01-01T08:00:00.000Z');
  });

  it('accepts only real calendar dates', () => {
    expect(isCalendarDay('2026-02-28')).toBe(true);
    expect(isCalendarDay('2026-02-29')).toBe(false);
    expect(isCalendarDay('2026-2-1')).toBe(false);
    expect(isCalendarDay('yesterday')).toBe(false);
  });
});

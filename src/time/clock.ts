/** The one source of "now". Production uses the system clock; tests inject a manual one. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that only moves when told to: tests advance it instead of sleeping. */
export class ManualClock implements Clock {
  #nowMs: number;

  constructor(start: number | string | Date) {
    this.#nowMs = typeof start === 'number' ? start : new Date(start).getTime();
  }

  nowMs(): number {
    return this.#nowMs;
  }

  advance(ms: number): void {
    this.#nowMs += ms;
  }

  set(at: number | string | Date): void {
    this.#nowMs = typeof at === 'number' ? at : new Date(at).getTime();
  }
}

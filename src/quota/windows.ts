/** Minute dimensions (rpm, tpm, ipm) count over any rolling 60 s (contract §7). */
export const WINDOW_MS = 60_000;

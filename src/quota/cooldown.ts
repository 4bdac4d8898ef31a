/**
 * How long a project+model cools down after Google's 429 when the answer carries no RetryInfo
 * (contract §7). Written once: the quota service starts cool-downs with it and the OpenAI face
 * tells clients to wait as long when it relays such a 429.
 */
export const DEFAULT_COOLDOWN_MS = 60_000;

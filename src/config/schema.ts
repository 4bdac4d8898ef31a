import { z } from 'zod';

/**
 * The config file's schema (contract §2). Strict everywhere: an unknown key is an error, so a
 * typo like `rmp:` cannot silently leave a limit off.
 */
const positiveInt = z.int({ error: 'must be a positive integer' }).positive({ error: 'must be a positive integer' });
const nonNegativeInt = z.int({ error: 'must be a non-negative integer' }).nonnegative({ error: 'must be a non-negative integer' });
const usd = z.number({ error: 'must be a number of USD' }).nonnegative({ error: 'must be a non-negative number of USD' });
const id = z
  .string({ error: 'must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'must be 1-64 letters, digits, ".", "_" or "-"' });

export const limitsSchema = z.strictObject({
  rpm: nonNegativeInt.optional(),
  tpm: nonNegativeInt.optional(),
  rpd: nonNegativeInt.optional(),
  ipm: nonNegativeInt.optional(),
});

const projectLimitsSchema = z.strictObject({
  rpm: positiveInt.optional(),
  tpm: positiveInt.optional(),
  rpd: positiveInt.optional(),
  ipm: positiveInt.optional(),
  /** Enqueued input tokens of unfinished batches (#16), Google's Batch API limit. */
  batchTokens: positiveInt.optional(),
});

const keyHash = z
  .string({ error: 'must be a string' })
  .regex(/^sha256:[0-9a-f]{64}$/, { error: 'must be "sha256:" followed by 64 lowercase hex digits (npx nanogate hash-key KEY)' });

const usdPerMillion = z.strictObject({
  input: usd.optional(),
  textOutput: usd.optional(),
  imageOutput: usd.optional(),
});

const API_KEY_MISSING = 'must be set to the Google API key (set GEMINI_API_KEY)';

/**
 * Where a Vertex AI project (#17.3) is, and the credentials its OAuth access tokens are made
 * from. Its model calls go to Vertex's generateContent for the same models instead of the
 * Gemini API; tier and limits are the project's own, as for any project.
 */
const vertexSchema = z.strictObject({
  /** The Google Cloud project id (or number) in the Vertex path. */
  project: z
    .string({ error: 'must be the Google Cloud project id' })
    .regex(/^(?:(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]|\d{1,20})$/, { error: 'must be a Google Cloud project id (my-project-123) or project number' }),
  /** A region (us-central1, europe-west4) or global. */
  location: z.string({ error: 'must be a Vertex AI location' }).regex(/^[a-z]+(?:-[a-z]+[0-9]+)?$/, { error: 'must be a Vertex AI location such as us-central1, europe-west4 or global' }),
  /**
   * A service-account JSON key file. Left out: Application Default Credentials
   * (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, or the metadata server on Google Cloud).
   */
  credentials: z
    .string({ error: 'must be the path of a service-account JSON key file' })
    .min(1, { error: 'must be the path of a service-account JSON key file (leave it out to use Application Default Credentials)' })
    .optional(),
  /** Default: https://{location}-aiplatform.googleapis.com (https://aiplatform.googleapis.com for global). */
  baseUrl: z.url({ error: 'must be an http(s) URL' }).optional(),
  /** Where access tokens come from. Default: the key file's token_uri, else Google's (https://oauth2.googleapis.com/token). */
  tokenUrl: z.url({ error: 'must be an http(s) URL' }).optional(),
});

/**
 * A Google project the gateway calls. `kind: gemini` (the default) is a Gemini API project with
 * its key; `kind: vertex` a Vertex AI project with its `vertex:` block and no key.
 */
const projectSchema = z
  .strictObject({
    id,
    kind: z.enum(['gemini', 'vertex'], { error: 'must be gemini (the Gemini API, with apiKey) or vertex (Vertex AI, with vertex:)' }).default('gemini'),
    apiKey: z.string({ error: API_KEY_MISSING }).optional(),
    vertex: vertexSchema.optional(),
    tier: z.enum(['free', 'tier1', 'tier2', 'tier3'], { error: 'must be one of free, tier1, tier2, tier3' }).default('tier1'),
    limits: z.record(z.string(), projectLimitsSchema).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.kind === 'gemini') {
      // A vertex block without the kind is most likely a forgotten `kind: vertex`: say only that.
      if (p.vertex !== undefined) ctx.addIssue({ code: 'custom', path: ['vertex'], message: 'is for Vertex AI projects: add kind: vertex (and remove apiKey)' });
      else if (p.apiKey === undefined) ctx.addIssue({ code: 'custom', path: ['apiKey'], message: API_KEY_MISSING });
    } else {
      if (p.vertex === undefined) ctx.addIssue({ code: 'custom', path: ['vertex'], message: 'must be set for a Vertex AI project: { project, location, credentials? }' });
      if (p.apiKey !== undefined) ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'is not used by a Vertex AI project (it calls with OAuth access tokens from vertex.credentials): remove it' });
    }
  })
  // A Vertex AI project has no API key: '' as for a Gemini API project whose key is unset.
  .transform((p) => ({ ...p, apiKey: p.apiKey ?? '' }));

export const configSchema = z.strictObject({
  upstream: z
    .strictObject({
      baseUrl: z.url({ error: 'must be an http(s) URL' }).default('https://generativelanguage.googleapis.com'),
      timeoutMs: positiveInt.default(180_000),
      retries: nonNegativeInt.max(10, { error: 'must be at most 10' }).default(2),
    })
    .prefault({}),
  defaultModel: z.string({ error: 'must be a string' }).min(1).default('gemini-3-pro-image'),
  projects: z.array(projectSchema, { error: 'must be a list of projects' }).min(1, { error: 'must list at least one project' }),
  /**
   * Pools of projects (#17): a tenant naming a pool is admitted on the first of its projects
   * (in order, or in a weighted random order per call) with room on every dimension and not
   * cooling down after Google's 429. A project belongs to at most one pool: its counters live
   * under the pool's Redis hash tag, so one admission over the pool is one Cluster slot.
   */
  pools: z
    .array(
      z.strictObject({
        id,
        strategy: z.enum(['order', 'weight'], { error: 'must be order or weight' }).default('order'),
        projects: z
          .array(z.strictObject({ project: id, weight: positiveInt.default(1) }), { error: 'must be a list of { project, weight? }' })
          .min(1, { error: 'must list at least one project' }),
        /**
         * Hours the pool remembers which of its projects made a thought signature (#17.5), so a
         * conversation's next turn goes back there: 22 bytes of digest and the project id per
         * signed part, in the store (Redis when configured).
         */
        signatureTtlHours: z.number({ error: 'must be a number of hours' }).positive({ error: 'must be positive' }).default(168),
      }),
      { error: 'must be a list of pools' },
    )
    .default([]),
  tenants: z
    .array(
      z.strictObject({
        id,
        /** The tenant's project; or, instead, `pool` (#17). Filled with the pool's first project when a pool is named. */
        project: id.optional(),
        pool: id.optional(),
        keys: z.array(keyHash, { error: 'must be a list of sha256 key hashes' }).default([]),
        limits: limitsSchema.optional(),
        budget: z.strictObject({ dailyUsd: usd.optional(), monthlyUsd: usd.optional() }).optional(),
      }),
    )
    .default([]),
  aliases: z.record(z.string(), z.string({ error: 'must be a model id' })).default({}),
  /**
   * The model table (config/models.yaml) as this deployment wants it: what a request naming a
   * retired model gets, how often the table is checked against Google's own list, and any
   * field of any model overridden (or a model added) without a release.
   */
  models: z
    .strictObject({
      retired: z.enum(['redirect', 'refuse'], { error: 'must be redirect or refuse' }).default('redirect'),
      /** Hours between checks of the table against Google's model list (0: only at start). */
      liveCheckHours: z.number({ error: 'must be a number of hours' }).nonnegative({ error: 'must not be negative' }).default(6),
      /** Per model id: fields merged over the shipped entry, or a whole new model. Checked when the table loads. */
      override: z.record(z.string(), z.record(z.string(), z.unknown(), { error: 'must be a map of model fields' })).default({}),
    })
    .prefault({}),
  /** Moved: prices live in the model table now. Kept in the schema only to say where they went. */
  pricing: z.unknown().refine((v) => v === undefined, { error: 'moved: set prices per model under models.override.<model-id>.prices (see config/models.yaml)' }).optional(),
  database: z
    .strictObject({
      path: z.string().min(1).default('data/nanogate.db'),
      /** Admin-made keys go unconfirmed by an unreachable database at most this long, then get 503. */
      maxStaleKeysMs: positiveInt.default(60_000),
    })
    .prefault({}),
  store: z.strictObject({ onFailure: z.enum(['local', 'deny'], { error: 'must be local or deny' }).default('local') }).prefault({}),
  /** The OpenAI face's image inputs and hosted image URLs (#14). */
  openai: z
    .strictObject({
      /**
       * Hosts whose http(s) image URLs the gateway may fetch for chat completions, Responses and
       * edits (`images.example.com`, or `*.example.com` for its subdomains). Empty (the default):
       * data URLs only; the gateway never requests an address the operator did not list.
       */
      imageUrlHosts: z
        .array(z.string().regex(/^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i, { error: 'must be a host name, "*.domain", or host:port' }), {
          error: 'must be a list of host names',
        })
        .default([]),
      /**
       * Google's answers wait whole until the OpenAI response is written (the status depends on
       * how they end): up to this many MB of them in memory for the whole process, the rest in
       * spool files (the OS page cache). Lower it to cap the heap, raise it to save disk I/O.
       */
      answerMemoryMB: positiveInt.max(16_384, { error: 'must be at most 16384' }).default(32),
      /** `response_format: "url"`: where images wait for their URL to be fetched, and for how long. */
      hostedImages: z
        .strictObject({
          /** auto: PostgreSQL when DATABASE_URL is set (instances serve each other's URLs), else the directory. */
          store: z.enum(['auto', 'directory', 'postgres'], { error: 'must be auto, directory or postgres' }).default('auto'),
          directory: z.string().min(1).default('data/images'),
          ttlMinutes: positiveInt.max(24 * 60, { error: 'must be at most 1440 (a day)' }).default(60),
          /** The gateway's public origin for the URLs (https://images.example.com); default: the request's own. */
          baseUrl: z.url({ error: 'must be an http(s) URL' }).optional(),
          /** HMAC key for the URLs, at least 32 characters; empty: one made and kept in the store. */
          signingKey: z
            .string()
            .refine((v) => v === '' || v.length >= 32, { error: 'must be at least 32 characters (or empty: a key kept in the store)' })
            .default(''),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Budget holds (#13.1): `sized` holds each call's input, images and a text and thinking
   * allowance learned from recent calls, and settles to the real cost; `strict` holds the worst
   * case (the model's whole output limit of text and thinking), so no call can cost more than
   * it held.
   */
  budget: z.strictObject({ holds: z.enum(['sized', 'strict'], { error: 'must be sized or strict' }).default('sized') }).prefault({}),
  /**
   * Google batches (#16): one instance at a time (a lease in the database) asks Google every
   * pollIntervalMs how unfinished batches stand, and meters the finished ones; another takes
   * over within leaseMs if it goes away.
   */
  batches: z
    .strictObject({
      pollIntervalMs: positiveInt.default(30_000),
      leaseMs: positiveInt.default(120_000),
    })
    .prefault({}),
  server: z
    .strictObject({
      bodyLimitBytes: positiveInt.default(64 * 1024 * 1024),
      shutdownGraceMs: nonNegativeInt.default(30_000),
      /**
       * Which proxies' X-Forwarded-For to believe for the client address (the failed-auth
       * limiter keys on it): false (default: the socket's peer), true (any), a hop count, or
       * addresses/CIDRs (Fastify's trustProxy).
       */
      trustProxy: z
        .union([z.boolean(), positiveInt, z.string().min(1), z.array(z.string().min(1)).min(1)], {
          error: 'must be true, false, a hop count, or a list of proxy addresses/CIDRs',
        })
        .default(false),
      /** The whole request, body included, must arrive within this (a trickled body is cut off). */
      requestTimeoutMs: positiveInt.default(120_000),
      /** The request line and headers must arrive within this. */
      headersTimeoutMs: positiveInt.default(20_000),
      /**
       * A second port for /healthz, /readyz, /metrics and /admin, which the public port then
       * does not serve (#12): probes and scrapers reach it, the public edge does not.
       */
      opsPort: z.int({ error: 'must be a port number (1-65535)' }).min(1, { error: 'must be a port number (1-65535)' }).max(65535, { error: 'must be a port number (1-65535)' }).optional(),
      /**
       * Browser clients (#12): origins allowed to call the model routes, exactly as the browser
       * sends them (`https://app.example.com`), or "*". Empty (the default): no CORS headers, so
       * browsers keep other sites out. The admin API allows them only with `admin: true`.
       */
      cors: z
        .strictObject({
          origins: z
            .array(
              z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, { error: 'must be "*" or an origin like https://app.example.com (scheme and host, no path)' }),
              { error: 'must be a list of origins' },
            )
            .default([]),
          admin: z.boolean({ error: 'must be true or false' }).default(false),
        })
        .prefault({}),
    })
    .prefault({}),
});

export type GatewayConfig = z.infer<typeof configSchema>;
export type ProjectConfig = GatewayConfig['projects'][number];
export type TenantConfig = GatewayConfig['tenants'][number];
export type VertexConfig = z.infer<typeof vertexSchema>;

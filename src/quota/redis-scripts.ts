/**
 * The Lua scripts of the Redis store, each registered once with `defineCommand` (STYLE.md,
 * from fastify-rate-limit) so that deciding and counting is one atomic round trip. They live
 * in a TS module rather than .lua files so the build needs no copy step.
 *
 * Conventions shared by every script:
 * - `now` and every instant come in ARGV from the caller's clock; Redis's own clock only
 *   drives TTLs, which are garbage collection and never decide anything.
 * - Numbers written back into Redis go through string.format('%d'): Lua 5.1 would otherwise
 *   print large integers in exponent form. Amounts compare as doubles, exact below 2^53
 *   (9e15 nano-USD, about $9M per counter).
 * - A minute log is a ZSET of members "entryId|tokens|images" scored by admission time, with a
 *   HASH of running sums (n, t, i) beside it so a check costs O(expired entries), not O(window).
 */

const LOG_HELPERS = `
local function costs(member)
  local t, i = string.match(member, '|(%d+)|(%d+)$')
  return 1, tonumber(t), tonumber(i)
end

-- Drops aged-out entries (score <= cutoff) and returns the window's sums {n, t, i}.
local function window_sums(w, s, cutoff)
  local expired = redis.call('ZRANGEBYSCORE', w, '-inf', cutoff)
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', w, '-inf', cutoff) end
  if redis.call('ZCARD', w) == 0 then
    redis.call('DEL', s)
    return {0, 0, 0}
  end
  local v = redis.call('HMGET', s, 'n', 't', 'i')
  if not v[1] then
    -- Sums lost on their own (eviction): rebuild them from the log.
    local n, t, i = 0, 0, 0
    for _, m in ipairs(redis.call('ZRANGE', w, 0, -1)) do
      local a, b, c = costs(m)
      n, t, i = n + a, t + b, i + c
    end
    redis.call('HSET', s, 'n', string.format('%d', n), 't', string.format('%d', t), 'i', string.format('%d', i))
    return {n, t, i}
  end
  local n, t, i = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
  if #expired > 0 then
    local dt, di = 0, 0
    for _, m in ipairs(expired) do
      local _a, b, c = costs(m)
      dt, di = dt + b, di + c
    end
    n, t, i = n - #expired, t - dt, i - di
    redis.call('HSET', s, 'n', string.format('%d', n), 't', string.format('%d', t), 'i', string.format('%d', i))
  end
  return {n, t, i}
end
`;

/**
 * admit: cool-down, then every dimension of every scope (project+model, tenant, and the key
 * when it has limits of its own); counts all or nothing.
 * KEYS: 1 cool-down, then per scope its log, sums and day counter (all under one hash tag).
 * ARGV: 1 now, 2 cutoff (now - window), 3 member, 4 tokens, 5 images, 6 window ms,
 *       7 log TTL ms, 8 day TTL ms, 9 ms until the day ends,
 *       then per scope: its name, rpm, tpm, rpd, ipm (-1 = unlimited).
 * Returns {1, then per scope its rpm and rpd} (counts after admission) or
 * {0, scope, dimension, limit, used, retryAfterMs}: of all refusing dimensions, the one
 * that frees last, since the request cannot pass before every one of them has room.
 */
export const ADMIT_LUA = `${LOG_HELPERS}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[6])
local cost = {1, tonumber(ARGV[4]), tonumber(ARGV[5])}

local cooldown = tonumber(redis.call('GET', KEYS[1]) or '0')
if cooldown > now then return {0, 'project', 'cooldown', 0, 0, cooldown - now} end

local function retry_after(w, idx, needed)
  local entries = redis.call('ZRANGE', w, 0, -1, 'WITHSCORES')
  local freed = 0
  for k = 1, #entries, 2 do
    local c = {costs(entries[k])}
    freed = freed + c[idx]
    if freed >= needed then return tonumber(entries[k + 1]) + window - now end
  end
  return window
end

-- name, log, sums, day counter, offset of its limits in ARGV
local scopes = {}
for s = 1, (#KEYS - 1) / 3 do
  local k, a = 3 * s - 1, 5 * s + 5
  scopes[s] = {ARGV[a], KEYS[k], KEYS[k + 1], KEYS[k + 2], a}
end
-- name, index into sums/cost (0 = the day counter), offset of its limit
local dims = {{'rpm', 1, 1}, {'tpm', 2, 2}, {'rpd', 0, 3}, {'ipm', 3, 4}}
local refusal = nil
local requests = {}
for si, sc in ipairs(scopes) do
  local sums = window_sums(sc[2], sc[3], ARGV[2])
  local day = tonumber(redis.call('GET', sc[4]) or '0')
  requests[si] = sums[1]
  for _, d in ipairs(dims) do
    local limit = tonumber(ARGV[sc[5] + d[3]])
    if limit >= 0 then
      local used, c
      if d[2] == 0 then used, c = day, 1 else used, c = sums[d[2]], cost[d[2]] end
      if used + c > limit then
        local retry
        if d[2] == 0 then retry = tonumber(ARGV[9]) else retry = retry_after(sc[2], d[2], used + c - limit) end
        if refusal == nil or retry > refusal[6] then refusal = {0, sc[1], d[1], limit, used, retry} end
      end
    end
  end
end
if refusal then return refusal end

local out = {1}
for si, sc in ipairs(scopes) do
  redis.call('ZADD', sc[2], ARGV[1], ARGV[3])
  redis.call('HINCRBY', sc[3], 'n', 1)
  redis.call('HINCRBY', sc[3], 't', ARGV[4])
  redis.call('HINCRBY', sc[3], 'i', ARGV[5])
  redis.call('PEXPIRE', sc[2], ARGV[7])
  redis.call('PEXPIRE', sc[3], ARGV[7])
  local day = redis.call('INCR', sc[4])
  redis.call('PEXPIRE', sc[4], ARGV[8])
  out[#out + 1] = requests[si] + 1
  out[#out + 1] = day
end
return out
`;

/**
 * correct: swaps the admission's member for one with the actual token and image counts, at the
 * same score, only while it is still in the log (an entry past the window no longer matters).
 * The old member names the estimates, so a second correction finds nothing to swap.
 * KEYS: per scope the admission counted, its log then its sums.
 * ARGV: 1 old member, 2 new member, 3 score, 4 token delta, 5 image delta.
 */
export const CORRECT_LUA = `
for k = 1, #KEYS, 2 do
  if redis.call('ZREM', KEYS[k], ARGV[1]) == 1 then
    redis.call('ZADD', KEYS[k], ARGV[3], ARGV[2])
    if redis.call('EXISTS', KEYS[k + 1]) == 1 then
      redis.call('HINCRBY', KEYS[k + 1], 't', ARGV[4])
      redis.call('HINCRBY', KEYS[k + 1], 'i', ARGV[5])
    end
  end
end
return 1
`;

/**
 * cooldown: sets the cool-down deadline unless a later one is already set.
 * KEYS: 1 cool-down. ARGV: 1 until, 2 TTL ms.
 */
export const COOLDOWN_LUA = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1
`;

/**
 * usage: the project's window sums, newest entry, day count and cool-down deadline, read-only.
 * KEYS: 1 log, 2 day counter, 3 cool-down. ARGV: 1 cutoff.
 * Returns {n, t, i, newest score or -1, day, cool-down until or 0}.
 */
export const USAGE_LUA = `
local function costs(member)
  local t, i = string.match(member, '|(%d+)|(%d+)$')
  return 1, tonumber(t), tonumber(i)
end
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local n, t, i, newest = 0, 0, 0, -1
for k = 1, #entries, 2 do
  local a, b, c = costs(entries[k])
  n, t, i = n + a, t + b, i + c
  newest = tonumber(entries[k + 1])
end
return {n, t, i, newest, tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(redis.call('GET', KEYS[3]) or '0')}
`;

/** Drops the holds of a budget counter that lapsed by `now` (their instance never settled them). */
const BUDGET_HELPERS = `
local function drop_lapsed(h, z, now)
  local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  if #lapsed > 0 then
    local sum = 0
    for _, m in ipairs(lapsed) do sum = sum + tonumber(string.match(m, '|(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    redis.call('HINCRBY', h, 'reserved', string.format('%d', -sum))
  end
  if redis.call('ZCARD', z) == 0 then redis.call('HSET', h, 'reserved', '0') end
end
`;

/**
 * budget_reserve: holds `amount` in every period, or nothing. A period is a tenant's counter or
 * one of its keys' (all under the tenant's hash tag), so key and tenant budgets are reserved
 * together: neither can be overspent by a call the other admitted.
 * KEYS: per period, its HASH (spent, reserved) then its ZSET of holds (member "id|amount",
 *       scored by the instant the hold lapses).
 * ARGV: 1 now, 2 reservation id, 3 amount, 4 hold until, then per period: limit, TTL ms.
 * Returns {1, then per period spent and reserved after the reservation}, {2, missing period
 * indexes...}, or {0, period index, spent, reserved}: amounts as Redis's own integer strings,
 * exact at any size.
 */
export const BUDGET_RESERVE_LUA = `${BUDGET_HELPERS}
local periods = #KEYS / 2
local missing = {2}
for p = 1, periods do
  if redis.call('HEXISTS', KEYS[2 * p - 1], 'spent') == 0 then missing[#missing + 1] = p end
end
if #missing > 1 then return missing end

local amount = tonumber(ARGV[3])
local refusal = nil
for p = 1, periods do
  local h, z = KEYS[2 * p - 1], KEYS[2 * p]
  drop_lapsed(h, z, ARGV[1])
  local v = redis.call('HMGET', h, 'spent', 'reserved')
  local limit = tonumber(ARGV[3 + 2 * p])
  if tonumber(v[1]) + tonumber(v[2]) + amount > limit then refusal = {0, p, v[1], v[2]} end
end
if refusal then return refusal end

local member = ARGV[2] .. '|' .. ARGV[3]
local out = {1}
for p = 1, periods do
  local h, z = KEYS[2 * p - 1], KEYS[2 * p]
  redis.call('ZADD', z, ARGV[4], member)
  redis.call('HINCRBY', h, 'reserved', ARGV[3])
  redis.call('PEXPIRE', h, ARGV[4 + 2 * p])
  redis.call('PEXPIRE', z, ARGV[4 + 2 * p])
  local v = redis.call('HMGET', h, 'spent', 'reserved')
  out[#out + 1] = v[1]
  out[#out + 1] = v[2]
end
return out
`;

/**
 * budget_read: each period's counter as it stands (lapsed holds dropped first), for
 * GET /v1/budget and the remaining-budget header.
 * KEYS: per period, HASH then holds ZSET. ARGV: 1 now.
 * Returns per period {1, spent, reserved} flattened, or {0, '0', '0'} where the counter is
 * absent (it is seeded from the ledger, then read again).
 */
export const BUDGET_READ_LUA = `${BUDGET_HELPERS}
local out = {}
for p = 1, #KEYS / 2 do
  local h, z = KEYS[2 * p - 1], KEYS[2 * p]
  if redis.call('HEXISTS', h, 'spent') == 0 then
    out[#out + 1] = 0
    out[#out + 1] = '0'
    out[#out + 1] = '0'
  else
    drop_lapsed(h, z, ARGV[1])
    local v = redis.call('HMGET', h, 'spent', 'reserved')
    out[#out + 1] = 1
    out[#out + 1] = v[1]
    out[#out + 1] = v[2]
  end
end
return out
`;

/**
 * budget_seed: sets spent from the ledger only if no one else has (set-if-absent); the
 * winner also drops holds left from before the counter vanished.
 * KEYS: 1 HASH, 2 holds ZSET. ARGV: 1 spent, 2 TTL ms.
 */
export const BUDGET_SEED_LUA = `
if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'reserved', '0')
  redis.call('DEL', KEYS[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`;

/**
 * budget_settle: drops the hold and adds the actual cost, in every period whose counter
 * still exists (one that vanished is rebuilt from the ledger, which holds this cost).
 * KEYS: per period, HASH then holds ZSET. ARGV: 1 hold member, 2 amount held, 3 actual cost.
 */
export const BUDGET_SETTLE_LUA = `
for p = 1, #KEYS / 2 do
  local h, z = KEYS[2 * p - 1], KEYS[2 * p]
  if redis.call('HEXISTS', h, 'spent') == 1 then
    if redis.call('ZREM', z, ARGV[1]) == 1 then
      redis.call('HINCRBY', h, 'reserved', string.format('%d', -tonumber(ARGV[2])))
    end
    redis.call('HINCRBY', h, 'spent', ARGV[3])
  end
end
return 1
`;

/**
 * pool_admit (#17): admission over a pool's projects in one step. Decision for decision as
 * MemoryQuotaStore.admitPool: each candidate in order gets the refusal admit would give it
 * (its cool-down, else its latest-freeing dimension; the shared tenant/key refusal when that
 * frees later); the first without one is counted with the shared scopes; else the refusal that
 * frees first (the first on a tie). Every key is under the pool's hash tag: one Cluster slot.
 * KEYS: per shared scope (tenant, then key) its log, sums and day counter; then per project
 *       its cool-down, log, sums and day counter.
 * ARGV: 1-9 as admit, 10 the number of shared scopes, then per shared scope its name, rpm,
 *       tpm, rpd, ipm; then per project its rpm, tpm, rpd, ipm (-1 = unlimited).
 * Returns {1, project index, project rpm, rpd, then per shared scope rpm, rpd} or
 * {0, scope, dimension, limit, used, retryAfterMs, project index}.
 */
export const POOL_ADMIT_LUA = `${LOG_HELPERS}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[6])
local cost = {1, tonumber(ARGV[4]), tonumber(ARGV[5])}
local shared = tonumber(ARGV[10])

local function retry_after(w, idx, needed)
  local entries = redis.call('ZRANGE', w, 0, -1, 'WITHSCORES')
  local freed = 0
  for k = 1, #entries, 2 do
    local c = {costs(entries[k])}
    freed = freed + c[idx]
    if freed >= needed then return tonumber(entries[k + 1]) + window - now end
  end
  return window
end

local dims = {{'rpm', 1, 1}, {'tpm', 2, 2}, {'rpd', 0, 3}, {'ipm', 3, 4}}
-- One scope's latest-freeing refusal (or nil), its window's request count and its day count.
-- Its limits are at ARGV[a + 1 .. a + 4].
local function check(name, log, sums, daykey, a)
  local s = window_sums(log, sums, ARGV[2])
  local day = tonumber(redis.call('GET', daykey) or '0')
  local refusal = nil
  for _, d in ipairs(dims) do
    local limit = tonumber(ARGV[a + d[3]])
    if limit >= 0 then
      local used, c
      if d[2] == 0 then used, c = day, 1 else used, c = s[d[2]], cost[d[2]] end
      if used + c > limit then
        local retry
        if d[2] == 0 then retry = tonumber(ARGV[9]) else retry = retry_after(log, d[2], used + c - limit) end
        if refusal == nil or retry > refusal[6] then refusal = {0, name, d[1], limit, used, retry} end
      end
    end
  end
  return refusal, s[1], day
end

local function count(log, sums, daykey, n)
  redis.call('ZADD', log, ARGV[1], ARGV[3])
  redis.call('HINCRBY', sums, 'n', 1)
  redis.call('HINCRBY', sums, 't', ARGV[4])
  redis.call('HINCRBY', sums, 'i', ARGV[5])
  redis.call('PEXPIRE', log, ARGV[7])
  redis.call('PEXPIRE', sums, ARGV[7])
  local day = redis.call('INCR', daykey)
  redis.call('PEXPIRE', daykey, ARGV[8])
  return n + 1, day
end

local scopes = {}
local shared_refusal = nil
for s = 1, shared do
  local k, a = 3 * s - 2, 11 + 5 * (s - 1)
  local r, n = check(ARGV[a], KEYS[k], KEYS[k + 1], KEYS[k + 2], a)
  scopes[s] = {KEYS[k], KEYS[k + 1], KEYS[k + 2], n}
  if r and (shared_refusal == nil or r[6] > shared_refusal[6]) then shared_refusal = r end
end

local best = nil
for i = 1, (#KEYS - 3 * shared) / 4 do
  local k, a = 3 * shared + 4 * (i - 1) + 1, 10 + 5 * shared + 4 * (i - 1)
  local refusal, n
  local cooldown = tonumber(redis.call('GET', KEYS[k]) or '0')
  if cooldown > now then refusal, n = {0, 'project', 'cooldown', 0, 0, cooldown - now}, 0
  else refusal, n = check('project', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], a) end
  if shared_refusal and (refusal == nil or shared_refusal[6] > refusal[6]) then refusal = shared_refusal end
  if refusal == nil then
    local out = {1, i}
    local rpm, day = count(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], n)
    out[3], out[4] = rpm, day
    for _, sc in ipairs(scopes) do
      rpm, day = count(sc[1], sc[2], sc[3], sc[4])
      out[#out + 1] = rpm
      out[#out + 1] = day
    end
    return out
  end
  if best == nil or refusal[6] < best[6] then
    best = {refusal[1], refusal[2], refusal[3], refusal[4], refusal[5], refusal[6], i}
  end
end
return best
`;

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
 *   HASH of running sums (n, t, i) beside it so a check costs O(expired entries), not O(window),
 *   and the instant its TTL was last pushed to (x, TTL_REFRESH_MS).
 * - Every redis.call costs Redis's one CPU (#15): an admission reads what it needs once and
 *   writes each key once (the sums in one HSET, not an HINCRBY per field).
 */

/**
 * How often, at most, a minute log and its sums get their TTL pushed back (LOG_TTL_MS in the
 * store): the sums hash keeps, in field `x`, the instant until which the last push keeps them
 * (by the caller's clock), so an admission pays for the two PEXPIREs once per this interval,
 * not every time. Before an admission returns, its log lives LOG_TTL_MS minus this at least.
 */
export const TTL_REFRESH_MS = 30_000;

const LOG_HELPERS = `
local function costs(member)
  local t, i = string.match(member, '|(%d+)|(%d+)$')
  return 1, tonumber(t), tonumber(i)
end

-- Drops aged-out entries (score <= cutoff) from log w and returns the window's sums n, t, i,
-- the TTL stamp x kept in the sums hash s (false when absent), and whether the sums changed
-- here (entries aged out, or the sums were rebuilt): the caller writes them back, once,
-- with or without the admission (save_sums or count).
local function window_sums(w, s, cutoff)
  local expired = redis.call('ZRANGEBYSCORE', w, '-inf', cutoff)
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', w, '-inf', cutoff) end
  if redis.call('ZCARD', w) == 0 then
    redis.call('DEL', s)
    return 0, 0, 0, false, false
  end
  local v = redis.call('HMGET', s, 'n', 't', 'i', 'x')
  if not v[1] then
    -- Sums lost on their own (eviction): rebuild them from the log.
    local n, t, i = 0, 0, 0
    for _, m in ipairs(redis.call('ZRANGE', w, 0, -1)) do
      local a, b, c = costs(m)
      n, t, i = n + a, t + b, i + c
    end
    return n, t, i, false, true
  end
  local n, t, i = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
  if #expired == 0 then return n, t, i, tonumber(v[4]) or false, false end
  local dt, di = 0, 0
  for _, m in ipairs(expired) do
    local _a, b, c = costs(m)
    dt, di = dt + b, di + c
  end
  return n - #expired, t - dt, i - di, tonumber(v[4]) or false, true
end

-- Writes back sums that window_sums changed, for a scope checked but not counted.
local function save_sums(s, n, t, i)
  redis.call('HSET', s, 'n', string.format('%d', n), 't', string.format('%d', t), 'i', string.format('%d', i))
end

-- Counts the admission in a scope whose sums window_sums returned: the entry, the sums in one
-- HSET, the day counter; TTLs only when they are due (a new day counter, a log whose stamp x
-- says its TTL runs out within LOG_TTL_MS - TTL_REFRESH_MS). ARGV as admit's.
-- Returns the window's requests and the day's, this admission included.
local function count(w, s, d, n, t, i, x)
  local now = tonumber(ARGV[1])
  redis.call('ZADD', w, ARGV[1], ARGV[3])
  n, t, i = n + 1, t + tonumber(ARGV[4]), i + tonumber(ARGV[5])
  local ttl = tonumber(ARGV[7])
  if x and x - now > ttl - ${TTL_REFRESH_MS} then
    save_sums(s, n, t, i)
  else
    redis.call('HSET', s, 'n', string.format('%d', n), 't', string.format('%d', t), 'i', string.format('%d', i), 'x', string.format('%d', now + ttl))
    redis.call('PEXPIRE', w, ttl)
    redis.call('PEXPIRE', s, ttl)
  end
  local day = redis.call('INCR', d)
  -- The day counter's deadline is the day's end, the same for every admission: set it once.
  if day == 1 then redis.call('PEXPIRE', d, ARGV[8]) end
  return n, day
end
`;

/**
 * What both admission scripts share after LOG_HELPERS: the request's cost, and checking one
 * scope (project+model, tenant or key) against its limits. ARGV as admit's (1 now, 4 tokens,
 * 5 images, 6 window ms, 9 ms until the day ends).
 */
const SCOPE_CHECK = `${LOG_HELPERS}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[6])
local cost = {1, tonumber(ARGV[4]), tonumber(ARGV[5])}

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

-- name, index into sums/cost (0 = the day counter), offset of its limit
local dims = {{'rpm', 1, 1}, {'tpm', 2, 2}, {'rpd', 0, 3}, {'ipm', 3, 4}}
-- One scope's latest-freeing refusal (or nil: the request cannot pass before every refusing
-- dimension has room), and its state for count or leave: log, sums, day counter, then
-- window_sums's n, t, i, x and whether the sums changed. Its limits are at ARGV[a + 1 .. a + 4].
local function check(name, log, sums, daykey, a)
  local n, t, i, x, changed = window_sums(log, sums, ARGV[2])
  local day = tonumber(redis.call('GET', daykey) or '0')
  local s = {n, t, i}
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
  return refusal, {log, sums, daykey, n, t, i, x, changed}
end

-- A scope checked and not counted: its sums written back if checking changed them.
local function leave(sc)
  if sc[8] then save_sums(sc[2], sc[4], sc[5], sc[6]) end
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
export const ADMIT_LUA = `${SCOPE_CHECK}
local cooldown = tonumber(redis.call('GET', KEYS[1]) or '0')
if cooldown > now then return {0, 'project', 'cooldown', 0, 0, cooldown - now} end

local refusal = nil
local scopes = {}
for s = 1, (#KEYS - 1) / 3 do
  local k, a = 3 * s - 1, 5 * s + 5
  local r, sc = check(ARGV[a], KEYS[k], KEYS[k + 1], KEYS[k + 2], a)
  scopes[s] = sc
  if r and (refusal == nil or r[6] > refusal[6]) then refusal = r end
end
if refusal then
  for _, sc in ipairs(scopes) do leave(sc) end
  return refusal
end

local out = {1}
for _, sc in ipairs(scopes) do
  local rpm, day = count(sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7])
  out[#out + 1] = rpm
  out[#out + 1] = day
end
return out
`;

/**
 * correct: for each of a batch of admissions (in order), swaps its member for one with the
 * actual token and image counts, at the same score, in each scope it counted, only while it is
 * still in that scope's log (an entry past the window no longer matters); the log keeps its
 * TTL. The old member names the estimates, so a second correction finds nothing to swap. Each
 * scope's sums take the batch's deltas at the end, in one HINCRBY per count that changed, and
 * only where they exist (lost sums are rebuilt from the log, which has the actual counts).
 * KEYS: per scope any correction of the batch names, its log then its sums (one hash tag).
 * ARGV: per correction: its number of scopes c, their indexes into KEYS (1 = the first pair),
 *       old member, new member, score, token delta, image delta.
 */
export const CORRECT_LUA = `
local dt, di = {}, {}
local a = 1
while a <= #ARGV do
  local c = tonumber(ARGV[a])
  local old, new, score = ARGV[a + c + 1], ARGV[a + c + 2], ARGV[a + c + 3]
  local t, i = tonumber(ARGV[a + c + 4]), tonumber(ARGV[a + c + 5])
  for j = a + 1, a + c do
    local s = tonumber(ARGV[j])
    local log = KEYS[2 * s - 1]
    -- Added before the old one goes, so the log never empties and keeps its TTL; taken back
    -- when there was nothing to swap (unless it was there already: a correction repeated).
    local added = redis.call('ZADD', log, score, new)
    if redis.call('ZREM', log, old) == 1 then
      dt[s] = (dt[s] or 0) + t
      di[s] = (di[s] or 0) + i
    elseif added == 1 then
      redis.call('ZREM', log, new)
    end
  end
  a = a + c + 6
end
for s, t in pairs(dt) do
  local sums = KEYS[2 * s]
  if (t ~= 0 or di[s] ~= 0) and redis.call('EXISTS', sums) == 1 then
    if t ~= 0 then redis.call('HINCRBY', sums, 't', string.format('%d', t)) end
    if di[s] ~= 0 then redis.call('HINCRBY', sums, 'i', string.format('%d', di[s])) end
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
 * budget_settle: for each of a batch of settlements of one tenant (in order), drops its hold and
 * adds its actual cost, in every period whose counter still exists (one that vanished is rebuilt
 * from the ledger, which holds this cost). Each counter takes the batch's sums at the end, one
 * HINCRBY per field that changed: amounts add as doubles, exact below 2^53 nano-USD (the
 * batch's total, about $9M).
 * KEYS: per period any settlement of the batch names, its HASH then its holds ZSET.
 * ARGV: per settlement: its number of periods c, their indexes into KEYS (1 = the first pair),
 *       hold member, amount held, actual cost.
 */
export const BUDGET_SETTLE_LUA = `
local exists, reserved, spent = {}, {}, {}
local a = 1
while a <= #ARGV do
  local c = tonumber(ARGV[a])
  local member, held, actual = ARGV[a + c + 1], tonumber(ARGV[a + c + 2]), tonumber(ARGV[a + c + 3])
  for j = a + 1, a + c do
    local p = tonumber(ARGV[j])
    if exists[p] == nil then exists[p] = redis.call('HEXISTS', KEYS[2 * p - 1], 'spent') == 1 end
    if exists[p] then
      if redis.call('ZREM', KEYS[2 * p], member) == 1 then reserved[p] = (reserved[p] or 0) - held end
      spent[p] = (spent[p] or 0) + actual
    end
  end
  a = a + c + 4
end
for p, v in pairs(spent) do
  local h = KEYS[2 * p - 1]
  if reserved[p] and reserved[p] ~= 0 then redis.call('HINCRBY', h, 'reserved', string.format('%d', reserved[p])) end
  if v ~= 0 then redis.call('HINCRBY', h, 'spent', string.format('%d', v)) end
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
export const POOL_ADMIT_LUA = `${SCOPE_CHECK}
local shared = tonumber(ARGV[10])

local scopes = {}
local shared_refusal = nil
for s = 1, shared do
  local k, a = 3 * s - 2, 11 + 5 * (s - 1)
  local r, sc = check(ARGV[a], KEYS[k], KEYS[k + 1], KEYS[k + 2], a)
  scopes[s] = sc
  if r and (shared_refusal == nil or r[6] > shared_refusal[6]) then shared_refusal = r end
end

local best = nil
for i = 1, (#KEYS - 3 * shared) / 4 do
  local k, a = 3 * shared + 4 * (i - 1) + 1, 10 + 5 * shared + 4 * (i - 1)
  local refusal, sc = nil, nil
  local cooldown = tonumber(redis.call('GET', KEYS[k]) or '0')
  if cooldown > now then refusal = {0, 'project', 'cooldown', 0, 0, cooldown - now}
  else refusal, sc = check('project', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], a) end
  if shared_refusal and (refusal == nil or shared_refusal[6] > refusal[6]) then refusal = shared_refusal end
  if refusal == nil then
    local out = {1, i}
    out[3], out[4] = count(sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7])
    for _, s in ipairs(scopes) do
      local rpm, day = count(s[1], s[2], s[3], s[4], s[5], s[6], s[7])
      out[#out + 1] = rpm
      out[#out + 1] = day
    end
    return out
  end
  if sc then leave(sc) end
  if best == nil or refusal[6] < best[6] then
    best = {refusal[1], refusal[2], refusal[3], refusal[4], refusal[5], refusal[6], i}
  end
end
for _, s in ipairs(scopes) do leave(s) end
return best
`;

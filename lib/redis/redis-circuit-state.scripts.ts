// Lua scripts of RedisCircuitStateStore. Each runs atomically in Redis, so two instances
// never interleave inside one: a state change, a batch of counters, a trial slot.
//
// Keys of one breaker (they share a hash tag, so a cluster keeps them in one slot):
//   <prefix>{<name>}          hash: state ('closed' | 'open'), openedAt, changedAt (epoch ms),
//                             version (bumped on every change), successes (half-open trials
//                             that succeeded), failures (aggregated consecutive failures)
//   <prefix>{<name>}:window   hash: the aggregated sliding window
//   <prefix>{<name>}:trials   sorted set: running half-open trials, scored by start time
// Half-open is never stored: an 'open' state whose openedAt + resetTimeout has passed is
// half-open, for every instance alike. Every write refreshes the keys' TTL.

const COMMON = `
local function get(key)
  local v = redis.call('HMGET', key, 'state', 'openedAt', 'changedAt', 'version', 'successes', 'failures')
  if not v[1] then return nil end
  return { state = v[1], openedAt = tonumber(v[2]) or 0, changedAt = tonumber(v[3]) or 0,
    version = tonumber(v[4]) or 0, successes = tonumber(v[5]) or 0, failures = tonumber(v[6]) or 0 }
end
local function effective(c, now, reset)
  if c.state == 'open' and now >= c.openedAt + reset then return 'half-open' end
  return c.state
end
local function reply(c)
  if not c then return false end
  return { c.state, string.format('%d', c.openedAt), string.format('%d', c.changedAt),
    string.format('%d', c.version) }
end
local function put(key, state, openedAt, changedAt, ttl)
  local version = redis.call('HINCRBY', key, 'version', 1)
  redis.call('HSET', key, 'state', state, 'openedAt', string.format('%d', openedAt),
    'changedAt', string.format('%d', changedAt), 'successes', 0, 'failures', 0)
  redis.call('PEXPIRE', key, ttl)
  return { state = state, openedAt = openedAt, changedAt = changedAt, version = version,
    successes = 0, failures = 0 }
end
local function announce(channel, name, origin, c, reason)
  redis.call('PUBLISH', channel, cjson.encode({ n = name, s = c.state,
    o = string.format('%d', c.openedAt), c = string.format('%d', c.changedAt),
    v = c.version, i = origin, r = reason }))
end
`;

/**
 * Writes a state decided by one instance.
 * KEYS: state, window, trials. ARGV: mode, state, openedAt, changedAt, now, resetTimeout,
 * ttl, channel, name, origin, reason. Modes:
 * - 'change': the breaker changed state; kept unless the stored state is already the same
 *   (an earlier opening of an open breaker wins);
 * - 'newer': after an outage in which the breaker changed state; written when nothing is
 *   stored or the stored state changed earlier;
 * - 'load': at start and after an outage without local changes; the stored state wins, a
 *   missing one is written when it is not closed.
 * Returns the state now stored (nil when none).
 */
export const SET_STATE = `${COMMON}
local mode, state = ARGV[1], ARGV[2]
local openedAt, changedAt = tonumber(ARGV[3]), tonumber(ARGV[4])
local now, reset, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local cur = get(KEYS[1])
if cur then
  if mode == 'load' then return reply(cur) end
  if mode == 'newer' and cur.changedAt >= changedAt then return reply(cur) end
  local wanted = state
  if state == 'open' and now >= openedAt + reset then wanted = 'half-open' end
  if mode == 'change' and effective(cur, now, reset) == wanted then return reply(cur) end
elseif mode == 'load' and state == 'closed' then
  return false
end
local c = put(KEYS[1], state, openedAt, changedAt, ttl)
redis.call('DEL', KEYS[2], KEYS[3])
announce(ARGV[8], ARGV[9], ARGV[10], c, ARGV[11])
return reply(c)
`;

/**
 * Adds one instance's batch of closed-state outcomes and opens the breaker for everyone when
 * the aggregated figures reach a threshold.
 * KEYS: state, window. ARGV: now, successes, failures, slow, trailing failures,
 * failureThreshold, rateMode (1/0), failureRateThreshold (-1: none), slowCallRateThreshold
 * (-1: none), minimumCalls, window type, window size, ttl, channel, name, origin.
 * Consecutive failures: a batch with a success sets the count to the failures after its
 * last success; a batch without one adds its failures. Count window: totals scaled down to
 * the window size as calls come (the oldest weigh least). Time window: ten buckets.
 */
export const REPORT = `${COMMON}
local now, successes, failures, slow, trailing =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local threshold, rateMode, frt, srt, minimum =
  tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local wtype, size, ttl = ARGV[11], tonumber(ARGV[12]), tonumber(ARGV[13])
local cur = get(KEYS[1])
if cur and cur.state ~= 'closed' then return reply(cur) end
if not cur then cur = put(KEYS[1], 'closed', 0, now, ttl) end
local f = cur.failures
if successes > 0 then f = trailing else f = f + failures end
redis.call('HSET', KEYS[1], 'failures', f)
redis.call('PEXPIRE', KEYS[1], ttl)
local calls, fails, slows = 0, 0, 0
if wtype == 'count' then
  local w = redis.call('HMGET', KEYS[2], 'calls', 'failures', 'slow')
  calls = (tonumber(w[1]) or 0) + successes + failures
  fails = (tonumber(w[2]) or 0) + failures
  slows = (tonumber(w[3]) or 0) + slow
  if calls > size then
    local k = size / calls
    calls, fails, slows = size, fails * k, slows * k
  end
  redis.call('HSET', KEYS[2], 'calls', calls, 'failures', fails, 'slow', slows)
else
  local span = size / 10
  local bucket = math.floor(now / span)
  local b = string.format('%d', bucket)
  redis.call('HINCRBY', KEYS[2], 'c:' .. b, successes + failures)
  redis.call('HINCRBY', KEYS[2], 'f:' .. b, failures)
  redis.call('HINCRBY', KEYS[2], 's:' .. b, slow)
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local kind, at = string.match(all[i], '^(%a):(%d+)$')
    local n = tonumber(all[i + 1]) or 0
    if at and tonumber(at) > bucket - 10 then
      if kind == 'c' then calls = calls + n elseif kind == 'f' then fails = fails + n
      else slows = slows + n end
    else
      redis.call('HDEL', KEYS[2], all[i])
    end
  end
end
redis.call('PEXPIRE', KEYS[2], ttl)
local reason = false
if rateMode == '1' then
  if calls >= minimum then
    if frt >= 0 and fails * 100 >= frt * calls then reason = 'failure-rate'
    elseif srt >= 0 and slows * 100 >= srt * calls then reason = 'slow-call-rate' end
  end
elseif f >= threshold then
  reason = 'failure-threshold'
end
if reason then
  local c = put(KEYS[1], 'open', now, now, ttl)
  redis.call('DEL', KEYS[2])
  announce(ARGV[14], ARGV[15], ARGV[16], c, reason)
  return reply(c)
end
return reply(get(KEYS[1]))
`;

/**
 * Takes a half-open trial slot if one of the halfOpenMaxCalls is free across instances.
 * Slots held longer than resetTimeout (an instance that died mid-trial) are freed first.
 * KEYS: state, trials. ARGV: now, max, resetTimeout, ttl, member.
 * Returns { 1, version } (granted), { 0, state } (refused: open, or every slot taken) or
 * { 2, state } (the shared breaker is closed: run the call as a closed breaker would).
 */
export const ACQUIRE = `${COMMON}
local now, max, reset, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = get(KEYS[1])
local version = 0
if cur then
  local e = effective(cur, now, reset)
  if e == 'closed' then return { 2, reply(cur) } end
  if e == 'open' then return { 0, reply(cur) } end
  version = cur.version
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now - reset))
if redis.call('ZCARD', KEYS[2]) >= max then return { 0, reply(cur) } end
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[2], ttl)
return { 1, string.format('%d', version) }
`;

/**
 * Frees a trial slot with the trial's outcome: successThreshold successes across instances
 * close the breaker, a failure opens it again. An outcome from an earlier state (the slot
 * was freed or the version moved on) changes nothing.
 * KEYS: state, trials, window. ARGV: now, member, outcome, version, successThreshold,
 * resetTimeout, ttl, channel, name, origin.
 */
export const RELEASE = `${COMMON}
local now, member, outcome, version = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local threshold, reset, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local removed = redis.call('ZREM', KEYS[2], member)
local cur = get(KEYS[1])
if removed == 0 or not cur or string.format('%d', cur.version) ~= version
  or effective(cur, now, reset) ~= 'half-open' then
  return reply(cur)
end
if outcome == 'success' then
  local s = redis.call('HINCRBY', KEYS[1], 'successes', 1)
  if s >= threshold then
    local c = put(KEYS[1], 'closed', cur.openedAt, now, ttl)
    redis.call('DEL', KEYS[2], KEYS[3])
    announce(ARGV[8], ARGV[9], ARGV[10], c, 'half-open-success')
    return reply(c)
  end
elseif outcome == 'failure' then
  local c = put(KEYS[1], 'open', now, now, ttl)
  redis.call('DEL', KEYS[2], KEYS[3])
  announce(ARGV[8], ARGV[9], ARGV[10], c, 'half-open-failure')
  return reply(c)
end
return reply(get(KEYS[1]))
`;

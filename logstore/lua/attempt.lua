-- attempt.lua: record delivery attempts of one workspace and the
-- transitions they cause, each in one step: the attempt is appended, the
-- attempt count bumped, and the entry moves to sent, to failed, or stays in
-- flight with its next attempt in the workspace's retry due set, where it
-- waits without holding anything (a JetStream window, a worker): the retry
-- pump publishes it when it is due. Many records share one call: the
-- batcher hands over every record of a workspace waiting at that moment.
--
-- KEYS[1] workspace meta hash (every key touched carries its {ws} tag)
-- ARGV[1] segment size (Config.SegmentSize)   ARGV[2] key base
-- ARGV[3] now ms   ARGV[4] attempts cap
-- ARGV[5..] the records, 13 values each: message id, the generation the
--   delivery belongs to, outcome, max attempts of this generation, error
--   code, error message, attempt JSON, backoff initial ms, backoff max ms,
--   jitter multiplier (0.9 .. 1.1), minimum delay ms (Retry-After), the
--   delivery's lease token (claim.lua) or "", defer delay ms
-- Outcomes: "ok" (sent), "retry", "fail"; "defer" puts the message back in
-- the due set after the defer delay without an attempt (its endpoint was
-- at its in-flight cap); "release" only gives the lease back (a delivery
-- cut short by shutdown, handed back to JetStream).
-- The retry delay is min(max, initial * 2^(attempts-1)) * jitter, at least
-- the minimum; it is computed here because only here is the attempt count
-- known for sure.
-- Returns five values per record: {"ok", status, attempts, retry delay ms,
-- attempts of this generation}; {"missing", "", 0, 0, 0}; {"stale",
-- status, 0, 0, 0} when the entry was reprocessed since; {"done", status,
-- 0, 0, 0} when it is no longer in flight (already sent or failed):
-- nothing is written for those. Every record applied bumps the meta hash's
-- "rec" counter, which the ledger checkpoints outside Redis.
local SEG = tonumber(ARGV[1])
local base = ARGV[2]
local now = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local due = base .. 'retry:due'
local applied = 0

local out = {}
local function answer(tag, st, a, delay, ga)
  out[#out + 1] = tag; out[#out + 1] = st; out[#out + 1] = a; out[#out + 1] = delay; out[#out + 1] = ga
end

local function record(i)
  local id = ARGV[i]
  local ekey = base .. 'm:' .. id
  local lk = base .. 'l:' .. id
  local token = ARGV[i + 11]
  if token ~= '' and redis.call('GET', lk) == token then redis.call('DEL', lk) end
  local outcome = ARGV[i + 2]
  if outcome == 'release' then return answer('ok', '', 0, 0, 0) end
  local raw = redis.call('GET', ekey)
  if not raw then return answer('missing', '', 0, 0, 0) end
  local h, rest = load_state(raw)
  if h.rp ~= tonumber(ARGV[i + 1]) then return answer('stale', h.st, 0, 0, 0) end
  if h.st ~= 'pending' and h.st ~= 'reprocessing' then return answer('done', h.st, 0, 0, 0) end
  applied = applied + 1

  if outcome == 'defer' then
    local delay = tonumber(ARGV[i + 12])
    h.na = string.format('%d', now + delay)
    h.ua = ARGV[3]
    redis.call('ZADD', due, h.na, id)
    redis.call('SET', ekey, save_state(h, rest), 'KEEPTTL')
    return answer('ok', h.st, h.a, delay, h.ga)
  end

  local akey = base .. 'a:' .. id
  local was_un = (h.ec ~= '' and h.st ~= 'sent') and 1 or 0
  local attempt = ARGV[i + 6]

  h.a = h.a + 1
  -- ga counts the attempts of this generation: retries and backoff restart
  -- when a message is reprocessed.
  h.ga = h.ga + 1
  local delay = 0
  local to
  if outcome == 'ok' then
    to = 'sent'
    h.err, h.ec, h.na = '', '', ''
  else
    h.err = ARGV[i + 5]
    -- a failure always has a code; an unclassified one is a delivery error
    h.ec = ARGV[i + 4] ~= '' and ARGV[i + 4] or 'DELIVERY_ERROR'
    if outcome == 'retry' and h.ga < tonumber(ARGV[i + 3]) then
      to = h.st
      delay = tonumber(ARGV[i + 7]) * math.pow(2, h.ga - 1)
      if delay > tonumber(ARGV[i + 8]) then delay = tonumber(ARGV[i + 8]) end
      delay = math.floor(delay * tonumber(ARGV[i + 9]))
      if delay < tonumber(ARGV[i + 10]) then delay = tonumber(ARGV[i + 10]) end
      h.na = string.format('%d', now + delay)
    else
      to = 'failed'
      h.na = ''
      if outcome == 'retry' then
        -- The worker sent a retryable failure, but this was the last
        -- attempt: it is recorded as what it turned out to be. The key is
        -- Go's encoding of Attempt.Outcome; inside a JSON string value a
        -- quote is escaped, so only the key itself can match.
        local s, e = string.find(attempt, '"outcome":"retry"', 1, true)
        if s then attempt = string.sub(attempt, 1, s - 1) .. '"outcome":"failed"' .. string.sub(attempt, e + 1) end
      end
    end
  end
  local n = redis.call('RPUSH', akey, attempt)
  if n == 1 then
    -- a new list lives as long as its entry
    local exp = redis.call('PEXPIRETIME', ekey)
    if exp > 0 then redis.call('PEXPIREAT', akey, exp) end
  elseif n > cap then
    redis.call('LTRIM', akey, -cap, -1)
  end
  if h.na ~= '' then
    redis.call('ZADD', due, h.na, id)
  else
    redis.call('ZREM', due, id)
  end
  local seg = math.floor(h.seq / SEG)
  local pos = h.seq % SEG
  if to ~= h.st then
    local b = base .. 'b:' .. seg .. ':st:'
    redis.call('SETBIT', b .. h.st, pos, 0)
    redis.call('SETBIT', b .. to, pos, 1)
    h.st = to
  end
  h.ua = ARGV[3]
  -- un:1 marks "undelivered": an error and not sent (failed, or retrying).
  local un = (h.ec ~= '' and h.st ~= 'sent') and 1 or 0
  if un ~= was_un then
    redis.call('SETBIT', base .. 'b:' .. seg .. ':un:1', pos, un)
  end
  redis.call('SET', ekey, save_state(h, rest), 'KEEPTTL')
  answer('ok', h.st, h.a, delay, h.ga)
end

for i = 5, #ARGV, 13 do record(i) end
if applied > 0 then redis.call('HINCRBY', KEYS[1], 'rec', applied) end
return out

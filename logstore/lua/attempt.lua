-- attempt.lua: record one delivery attempt and the transition it causes, in
-- one step: the attempt is appended, the attempt count bumped, and the
-- entry moves to sent, to failed, or stays in flight for a retry.
--
-- KEYS[1] entry   KEYS[2] attempts list
-- ARGV[1] segment size (Config.SegmentSize)
-- ARGV[2] key base   ARGV[3] now ms   ARGV[4] generation the delivery belongs to
-- ARGV[5] outcome: "ok" | "retry" | "fail"   ARGV[6] max attempts of this generation
-- ARGV[7] error code   ARGV[8] error message   ARGV[9] attempt JSON
-- ARGV[10] attempts cap
-- ARGV[11] backoff initial ms   ARGV[12] backoff max ms
-- ARGV[13] jitter multiplier (e.g. 0.9 .. 1.1)   ARGV[14] minimum delay ms (Retry-After)
-- The retry delay is min(max, initial * 2^(attempts-1)) * jitter, at least
-- the minimum; it is computed here because only here is the attempt count
-- known for sure.
-- Returns {status, attempts, retry delay ms} on success; {"missing"}; {"stale", status} when
-- the entry was reprocessed since; {"done", status} when it is no longer in
-- flight (already sent or failed): nothing is written then.
local SEG = tonumber(ARGV[1]) -- segment size (Config.SegmentSize)
-- The state line "v|seq|ca|ua|st|a|ga|rp|na|tb|otb|ec|err" (entry.go)
-- is all a transition reads or writes; the JSON after it is never decoded.
local function load_state(raw)
  local nl = string.find(raw, '\n', 1, true)
  local line = string.sub(raw, 1, nl - 1)
  local f, pos = {}, 1
  for i = 1, 12 do
    local p = string.find(line, '|', pos, true)
    f[i] = string.sub(line, pos, p - 1)
    pos = p + 1
  end
  f[13] = string.sub(line, pos)
  return {seq = tonumber(f[2]), ca = f[3], ua = f[4], st = f[5], a = tonumber(f[6]), ga = tonumber(f[7]),
    rp = tonumber(f[8]), na = f[9], tb = f[10], otb = f[11], ec = f[12], err = f[13]}, string.sub(raw, nl)
end

local function save_state(h, rest)
  return table.concat({'1', h.seq, h.ca, h.ua, h.st, h.a, h.ga, h.rp, h.na, h.tb, h.otb, h.ec, h.err}, '|') .. rest
end

local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local h, rest = load_state(raw)
local gen = tonumber(ARGV[4])
if h.rp ~= gen then return {'stale', h.st} end
if h.st ~= 'pending' and h.st ~= 'reprocessing' then return {'done', h.st} end

local now = tonumber(ARGV[3])
local was_un = (h.ec ~= '' and h.st ~= 'sent') and 1 or 0
local cap = tonumber(ARGV[10])
local n = redis.call('RPUSH', KEYS[2], ARGV[9])
if n == 1 then
  -- a new list lives as long as its entry
  local exp = redis.call('PEXPIRETIME', KEYS[1])
  if exp > 0 then redis.call('PEXPIREAT', KEYS[2], exp) end
elseif n > cap then
  redis.call('LTRIM', KEYS[2], -cap, -1)
end

h.a = h.a + 1
-- ga counts the attempts of this generation: retries and backoff restart
-- when a message is reprocessed.
h.ga = h.ga + 1
local outcome = ARGV[5]
local delay = 0
local to
if outcome == 'ok' then
  to = 'sent'
  h.err = ''
  h.ec = ''
  h.na = ''
else
  h.err = ARGV[8]
  -- a failure always has a code; an unclassified one is a delivery error
  h.ec = ARGV[7] ~= '' and ARGV[7] or 'DELIVERY_ERROR'
  if outcome == 'retry' and h.ga < tonumber(ARGV[6]) then
    to = h.st
    delay = tonumber(ARGV[11]) * math.pow(2, h.ga - 1)
    if delay > tonumber(ARGV[12]) then delay = tonumber(ARGV[12]) end
    delay = math.floor(delay * tonumber(ARGV[13]))
    if delay < tonumber(ARGV[14]) then delay = tonumber(ARGV[14]) end
    h.na = string.format('%d', now + delay)
  else
    to = 'failed'
    h.na = ''
  end
end
if to ~= h.st then
  local seg = math.floor(h.seq / SEG)
  local pos = h.seq % SEG
  local b = ARGV[2] .. 'b:' .. seg .. ':st:'
  redis.call('SETBIT', b .. h.st, pos, 0)
  redis.call('SETBIT', b .. to, pos, 1)
  h.st = to
end
h.ua = ARGV[3]
-- un:1 marks "undelivered": an error and not sent (failed, or retrying).
local un = (h.ec ~= '' and h.st ~= 'sent') and 1 or 0
if un ~= was_un then
  redis.call('SETBIT', ARGV[2] .. 'b:' .. math.floor(h.seq / SEG) .. ':un:1', h.seq % SEG, un)
end
redis.call('SET', KEYS[1], save_state(h, rest), 'KEEPTTL')
return {h.st, h.a, delay, h.ga}

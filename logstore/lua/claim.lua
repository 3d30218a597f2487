-- claim.lua: before every send, check the entry and take the delivery's
-- lease, for many deliveries of one workspace in one call. A delivery may
-- go ahead only while its entry is still in flight (pending or
-- reprocessing), in the job's generation, with exactly the job's attempt
-- made so far, and no other delivery holds the lease. So a cancelled
-- message is never sent, a second copy of a job (a redelivery after a
-- recorded outcome, a republish) is dropped, and two workers never send
-- the same attempt at once. The lease also tells a producer that gave up
-- on its publish that the job reached a worker (transition.lua's
-- untouched check): it then answers 202, not 503.
--
-- KEYS[1] workspace meta hash (every key touched carries its {ws} tag)
-- ARGV[1] key base   ARGV[2] lease ms
-- ARGV[3..] the claims, 4 values each: message id, generation, attempt
--   (attempts of the generation the job was published for; -1 when the
--   job does not say), lease token
-- Returns four values per claim:
--   {"ok", status, attempts of the generation, attempts in all}
--   {"missing", "", 0, 0}       no entry (expired, or the log store lost it)
--   {"settled", status, 0, 0}   sent or failed (cancelled included)
--   {"stale", status, 0, 0}     another generation, or this attempt was made
--   {"busy", status, ms, 0}     another delivery holds the lease for ms more
local base = ARGV[1]
local lease = ARGV[2]
local out = {}
local function answer(tag, st, a, b)
  out[#out + 1] = tag; out[#out + 1] = st; out[#out + 1] = a; out[#out + 1] = b
end

-- The state line starts v|seq|ca|ua|st|a|ga|rp|...: these eight fields are
-- bounded (at most ~100 bytes), so the first 128 bytes hold them and the
-- entry's JSON is never read.
local function head(raw)
  local f, pos = {}, 1
  for i = 1, 8 do
    local p = string.find(raw, '|', pos, true)
    if not p then return nil end
    f[i] = string.sub(raw, pos, p - 1)
    pos = p + 1
  end
  return {st = f[5], a = tonumber(f[6]), ga = tonumber(f[7]), rp = tonumber(f[8])}
end

for i = 3, #ARGV, 4 do
  local id, gen, attempt, token = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  local raw = redis.call('GETRANGE', base .. 'm:' .. id, 0, 127)
  local h = nil
  if raw ~= '' then h = head(raw) end
  if not h then
    answer('missing', '', 0, 0)
  elseif h.st ~= 'pending' and h.st ~= 'reprocessing' then
    answer('settled', h.st, 0, 0)
  elseif h.rp ~= gen or (attempt >= 0 and h.ga ~= attempt) then
    answer('stale', h.st, 0, 0)
  else
    local lk = base .. 'l:' .. id
    local holder = redis.call('GET', lk)
    if holder and holder ~= token then
      answer('busy', h.st, redis.call('PTTL', lk), 0)
    else
      redis.call('SET', lk, token, 'PX', lease)
      answer('ok', h.st, h.ga, h.a)
    end
  end
end
return out

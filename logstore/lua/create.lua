-- create.lua: write new log entries of one workspace in status pending and
-- index them, atomically; or answer, for each, the entry its cache tag
-- already points at. Many entries share one call: the batcher hands over
-- every create of a workspace waiting at that moment.
--
-- KEYS[1] workspace meta hash (every key touched carries its {ws} tag)
-- ARGV[1] segment size (Config.SegmentSize)   ARGV[2] key base "<prefix>:{ws}:"
-- ARGV[3] now ms   ARGV[4] retention ms   ARGV[5] cache window ms
-- ARGV[6] deadline: Unix ms on the wall clock after which the caller has
--   given up on this call (0: none). A call that reaches Redis later
--   writes nothing and answers {"late"}: a producer that
--   answered 503 because its write timed out can rely on no entry
--   appearing afterwards, pending and without a job.
-- ARGV[7..] the entries, each as: id (26 chars), header JSON, input JSON,
--   process id or "", campaign id or "", triggered_by, cache key relative to the base ("c:...") or "",
--   the number of bitmap terms, then the terms ("st:pending", "env:prd", ...)
-- The entry is "<state line>\n<header JSON>\n<input JSON>"; the state line
-- holds what changes (see entry.go) so that no script decodes JSON.
-- Returns four values per entry: {1, id, seq, created_ms} for a new entry,
-- {0, first_id, 0, 0} when its cache tag is taken, {2, id, 0, 0} when the id
-- already exists; or {"late"} for the whole call past its deadline.
local SEG = tonumber(ARGV[1])
local REC = 34
local base = ARGV[2]
local now = tonumber(ARGV[3])
local retention = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local deadline = tonumber(ARGV[6])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline then
    return {'late'}
  end
end

local meta = redis.call('HMGET', KEYS[1], 'seq', 'last')
local nextseq = tonumber(meta[1] or '0')
local ts = tonumber(meta[2] or '0')
if now > ts then ts = now end
local tss = string.format('%d', ts)

-- TTLs are relative: Redis expires on its own clock, while created_at
-- comes from the caller's (injected) clock.
local function zindex(kind, value, seq, id)
  if value ~= '' then
    local k = base .. 'z:' .. kind .. ':' .. value
    redis.call('ZADD', k, seq, id)
    if redis.call('PTTL', k) < retention then
      redis.call('PEXPIRE', k, retention)
    end
  end
end

local out = {}
local created = false
local i = 7
while i <= #ARGV do
  local id, hdr, input = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local proc, camp, tb, cache = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local first_term = i + 8
  i = first_term + tonumber(ARGV[i + 7])

  local ckey = nil
  if cache ~= '' then ckey = base .. cache end
  local taken = nil
  if ckey then
    local first = redis.call('GET', ckey)
    if first and redis.call('EXISTS', base .. 'm:' .. first) == 1 then taken = first end
  end
  if taken then
    out[#out + 1] = 0; out[#out + 1] = taken; out[#out + 1] = 0; out[#out + 1] = 0
  elseif redis.call('EXISTS', base .. 'm:' .. id) == 1 then
    out[#out + 1] = 2; out[#out + 1] = id; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local seq = nextseq
    nextseq = nextseq + 1
    created = true
    local seg = math.floor(seq / SEG)
    local pos = seq % SEG
    redis.call('SETRANGE', base .. 'q:' .. seg, pos * REC, id .. struct.pack('>d', ts))
    redis.call('SETBIT', base .. 'b:' .. seg .. ':all', pos, 1)
    for t = first_term, i - 1 do
      redis.call('SETBIT', base .. 'b:' .. seg .. ':' .. ARGV[t], pos, 1)
    end
    zindex('proc', proc, seq, id)
    zindex('camp', camp, seq, id)
    -- state line: v|seq|ca|ua|st|a|ga|rp|na|tb|otb|ec|err
    local state = table.concat({'1', seq, tss, tss, 'pending', 0, 0, 0, '', tb, '', '', ''}, '|')
    redis.call('SET', base .. 'm:' .. id, state .. '\n' .. hdr .. '\n' .. input, 'PX', retention)
    if ckey then redis.call('SET', ckey, id, 'PX', window) end
    out[#out + 1] = 1; out[#out + 1] = id; out[#out + 1] = seq; out[#out + 1] = ts
  end
end
if created then
  redis.call('HSET', KEYS[1], 'seq', nextseq, 'last', tss)
end
return out

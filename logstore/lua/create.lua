-- create.lua: write a new log entry in status pending (or reprocessing) and
-- index it, atomically; or answer the entry a cache tag already points at.
--
-- KEYS[1] workspace meta hash   KEYS[2] entry   KEYS[3] cache key, absent when the
-- send has no cache tag (never "": on Redis Cluster an empty key is another slot)
-- ARGV[1] segment size (Config.SegmentSize)
-- ARGV[2] key base "<prefix>:{ws}:"   ARGV[3] id (26 chars)
-- ARGV[4] now ms   ARGV[5] retention ms   ARGV[6] cache window ms
-- ARGV[7] header JSON (without seq/ca/ua)   ARGV[8] input JSON
-- ARGV[9] process id or ""   ARGV[10] campaign id or ""
-- ARGV[11..] bitmap terms ("st:pending", "env:prd", ...)
-- Returns {1, id, seq, created_ms} for a new entry, {0, first_id} when the
-- cache tag is taken, {2, id} when the id already exists.
local SEG = tonumber(ARGV[1]) -- segment size (Config.SegmentSize)
local REC = 34
local base = ARGV[2]
local id = ARGV[3]
local now = tonumber(ARGV[4])
local retention = tonumber(ARGV[5])

if KEYS[3] then
  local first = redis.call('GET', KEYS[3])
  if first and redis.call('EXISTS', base .. 'm:' .. first) == 1 then
    return {0, first}
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {2, id}
end

local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1) - 1
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local ts = now
if last > ts then ts = last end
redis.call('HSET', KEYS[1], 'last', ts)

local seg = math.floor(seq / SEG)
local pos = seq % SEG
redis.call('SETRANGE', base .. 'q:' .. seg, pos * REC, id .. struct.pack('>d', ts))
redis.call('SETBIT', base .. 'b:' .. seg .. ':all', pos, 1)
for i = 11, #ARGV do
  redis.call('SETBIT', base .. 'b:' .. seg .. ':' .. ARGV[i], pos, 1)
end

-- TTLs are relative: Redis expires on its own clock, while created_at
-- comes from the caller's (injected) clock.
local function zindex(kind, value)
  if value ~= '' then
    local k = base .. 'z:' .. kind .. ':' .. value
    redis.call('ZADD', k, seq, id)
    if redis.call('PTTL', k) < retention then
      redis.call('PEXPIRE', k, retention)
    end
  end
end
zindex('proc', ARGV[9])
zindex('camp', ARGV[10])

local h = cjson.decode(ARGV[7])
h.seq = seq
h.ca = ts
h.ua = ts
redis.call('SET', KEYS[2], cjson.encode(h) .. '\n' .. ARGV[8], 'PX', retention)

if KEYS[3] then
  redis.call('SET', KEYS[3], id, 'PX', tonumber(ARGV[6]))
end
return {1, id, seq, ts}

-- lowmark.lua: advance a workspace's low-water mark to the first sequence
-- number whose created_at is at or after the retention cutoff. Entries
-- below it have expired; queries start their search there, and the
-- janitor may delete index segments entirely below it.
--
-- KEYS[1] workspace meta hash
-- ARGV[1] segment size   ARGV[2] key base   ARGV[3] cutoff ms
-- Returns {old low, new low, next seq}.
local SEG = tonumber(ARGV[1])
local REC = 34
local base = ARGV[2]
local cutoff = tonumber(ARGV[3])
local nextseq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local low = tonumber(redis.call('HGET', KEYS[1], 'low') or '0')

local function ts_at(seq)
  local s = redis.call('GETRANGE', base .. 'q:' .. math.floor(seq / SEG), (seq % SEG) * REC + 26, (seq % SEG) * REC + 33)
  if #s < 8 then return nil end
  return struct.unpack('>d', s)
end

local lo, hi = low, nextseq
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local v = ts_at(mid)
  if v == nil or v < cutoff then lo = mid + 1 else hi = mid end
end
if lo > low then
  redis.call('HSET', KEYS[1], 'low', lo)
end
return {low, lo, nextseq}

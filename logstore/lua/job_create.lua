-- job_create.lua: write a new dispatch job in status queued and make it due
-- at its first slot, atomically; or answer the job a dispatch cache tag
-- already points at.
--
-- KEYS[1] job hash   KEYS[2] due sorted set   KEYS[3] cache key, absent when the dispatch has none
-- ARGV[1] key base "<prefix>:{ws}:"   ARGV[2] job id   ARGV[3] now ms
-- ARGV[4] cache window ms   ARGV[5] first slot ms   ARGV[6] limit (0: none)
-- ARGV[7] endDate ms (0: none)   ARGV[8] schedule JSON   ARGV[9] send JSON
-- Returns {1, id} for a new job, {0, first_id} when the cache tag (or the
-- id) names a job that exists.
local base = ARGV[1]
local id = ARGV[2]

if KEYS[3] then
  local first = redis.call('GET', KEYS[3])
  if first and redis.call('EXISTS', base .. 'job:' .. first) == 1 then
    return {0, first}
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, id}
end

redis.call('HSET', KEYS[1], 'st', 'queued', 'runs', 0, 'next', ARGV[5], 'last', '',
  'limit', ARGV[6], 'end', ARGV[7], 'sched', ARGV[8], 'send', ARGV[9],
  'ca', ARGV[3], 'ua', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], id)
redis.call('ZADD', base .. 'jobs:idx:all', 0, id)
redis.call('ZADD', base .. 'jobs:idx:queued', 0, id)
if KEYS[3] then
  redis.call('SET', KEYS[3], id, 'PX', tonumber(ARGV[4]))
end
return {1, id}

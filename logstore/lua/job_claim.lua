-- job_claim.lua: claim the due jobs of one workspace for one scheduler
-- replica. A claim is a lease: the job's score in the due set moves to the
-- end of the lease, so no other replica sees it until then; a replica that
-- dies holding it loses it when the lease runs out, and the next claim
-- fires the same slot (the job's `next` is untouched until a commit).
--
-- KEYS[1] due sorted set
-- ARGV[1] key base   ARGV[2] now ms   ARGV[3] horizon ms (claim slots up to it)
-- ARGV[4] lease ms   ARGV[5] most jobs to claim   ARGV[6] owner (replica id)
-- Returns a flat list, five items per claimed job:
-- id, slot ms, runs, schedule JSON, send JSON.
local base = ARGV[1]
local now = tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(due) do
  local k = base .. 'job:' .. id
  local f = redis.call('HMGET', k, 'st', 'next', 'runs', 'sched', 'send')
  if (f[1] ~= 'queued' and f[1] ~= 'active') or not f[2] or f[2] == '' then
    -- Gone (expired), paused, finished: not due any more.
    redis.call('ZREM', KEYS[1], id)
  else
    local slot = tonumber(f[2])
    local untl = slot
    if now > untl then untl = now end
    redis.call('ZADD', KEYS[1], string.format('%.0f', untl + lease), id)
    redis.call('HSET', k, 'owner', ARGV[6])
    out[#out + 1] = id
    out[#out + 1] = f[2]
    out[#out + 1] = f[3]
    out[#out + 1] = f[4]
    out[#out + 1] = f[5]
  end
end
return out

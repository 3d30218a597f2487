-- job_commit.lua: record that a job fired its slot and move it on, in one
-- atomic step: runs + 1, last = slot, the fire record and its indexes, then
-- either the next slot (due again) or completed (limit reached, endDate
-- passed, no slot left). A slot commits once: a second commit of the same
-- (or an older) slot — a replica whose lease ran out while another fired
-- the slot again — changes nothing.
--
-- KEYS[1] job hash   KEYS[2] due sorted set
-- ARGV[1] key base   ARGV[2] job id   ARGV[3] slot ms   ARGV[4] next slot ms or -1
-- ARGV[5] now ms   ARGV[6] retention ms   ARGV[7] process id of the fire
-- ARGV[8] fire record JSON   ARGV[9] error of the fire or ""
-- Returns {'ok', status, runs}, {'stale', status} or {'missing'}.
local base = ARGV[1]
local id = ARGV[2]
local slot = tonumber(ARGV[3])
local nxt = tonumber(ARGV[4])
local nxtStr = ARGV[4]
local now = tonumber(ARGV[5])
local ret = tonumber(ARGV[6])
local pid = ARGV[7]

local f = redis.call('HMGET', KEYS[1], 'st', 'next', 'last', 'limit', 'end')
if not f[1] then
  return {'missing'}
end
local st = f[1]
local last = tonumber(f[3] or '')
if last and slot <= last then
  return {'stale', st}
end

local runs = redis.call('HINCRBY', KEYS[1], 'runs', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[3], 'ua', ARGV[5], 'err', ARGV[9], 'pid', pid)
redis.call('HDEL', KEYS[1], 'owner')

-- The fire record and its indexes, for the send log.
local cutoff = '(' .. string.format('%.0f', now - ret)
redis.call('SET', base .. 'fire:' .. pid, ARGV[8], 'PX', ret)
local jf = base .. 'jobs:fires:' .. id
redis.call('ZADD', jf, ARGV[3], pid)
redis.call('ZREMRANGEBYSCORE', jf, '-inf', cutoff)
local wf = base .. 'jobs:fires'
redis.call('ZADD', wf, ARGV[3], pid)
redis.call('ZREMRANGEBYSCORE', wf, '-inf', cutoff)

-- A resume while this fire was under way may have set a later slot.
local stored = tonumber(f[2] or '')
if stored and stored > slot then
  nxt = stored
  nxtStr = f[2]
end
local limit = tonumber(f[4] or '') or 0
local endms = tonumber(f[5] or '') or 0
local newst = st
if st == 'queued' or st == 'active' or st == 'paused' then
  if nxt < 0 or (limit > 0 and runs >= limit) or (endms > 0 and nxt > endms) then
    newst = 'completed'
  elseif st ~= 'paused' then
    newst = 'active'
  end
end

if newst == 'completed' or nxt < 0 then
  redis.call('HSET', KEYS[1], 'next', '')
else
  redis.call('HSET', KEYS[1], 'next', nxtStr)
end
if newst == 'active' then
  redis.call('ZADD', KEYS[2], nxtStr, id)
else
  redis.call('ZREM', KEYS[2], id)
end
if newst ~= st then
  redis.call('HSET', KEYS[1], 'st', newst)
  redis.call('ZREM', base .. 'jobs:idx:' .. st, id)
  redis.call('ZADD', base .. 'jobs:idx:' .. newst, 0, id)
end
if newst == 'completed' and st ~= 'completed' then
  -- Finished jobs live for the retention window, then are forgotten.
  redis.call('PEXPIRE', KEYS[1], ret)
  redis.call('PEXPIRE', jf, ret)
  local done = base .. 'jobs:done'
  redis.call('ZADD', done, ARGV[5], id)
  local old = redis.call('ZRANGEBYSCORE', done, '-inf', cutoff, 'LIMIT', 0, 100)
  for _, o in ipairs(old) do
    redis.call('ZREM', base .. 'jobs:idx:all', o)
    redis.call('ZREM', base .. 'jobs:idx:completed', o)
    redis.call('ZREM', base .. 'jobs:idx:cancelled', o)
    redis.call('ZREM', done, o)
  end
end
return {'ok', newst, runs}

-- job_state.lua: pause, resume or cancel a job, atomically with its due
-- entry and status indexes.
--
-- pause:  queued|active -> paused; it leaves the due set. A fire already
--         under way completes and is counted.
-- resume: paused -> queued (never fired) or active; due again at its
--         stored next slot if that is still ahead, else at ARGV[5] (the
--         first slot from now: slots missed while paused are not fired).
--         No slot left, or past endDate: completed.
-- cancel: queued|active|paused -> cancelled; it leaves the due set.
-- Pausing a paused job, resuming a running one or cancelling a cancelled
-- one changes nothing; anything else on a finished job is a conflict.
--
-- KEYS[1] job hash   KEYS[2] due sorted set
-- ARGV[1] key base   ARGV[2] job id   ARGV[3] op: pause|resume|cancel
-- ARGV[4] now ms   ARGV[5] resume: first slot from now in ms, or -1
-- ARGV[6] retention ms
-- Returns {'ok', status}, {'conflict', status} or {'missing'}.
local base = ARGV[1]
local id = ARGV[2]
local op = ARGV[3]
local now = tonumber(ARGV[4])
local ret = tonumber(ARGV[6])

local f = redis.call('HMGET', KEYS[1], 'st', 'next', 'runs', 'limit', 'end')
local st = f[1]
if not st then
  return {'missing'}
end

local newst = st
local nextStr = nil
if op == 'pause' then
  if st == 'paused' then return {'ok', st} end
  if st ~= 'queued' and st ~= 'active' then return {'conflict', st} end
  newst = 'paused'
elseif op == 'resume' then
  if st == 'queued' or st == 'active' then return {'ok', st} end
  if st ~= 'paused' then return {'conflict', st} end
  local stored = tonumber(f[2] or '')
  if stored and stored >= now then
    nextStr = f[2]
  else
    nextStr = ARGV[5]
  end
  local nxt = tonumber(nextStr)
  local runs = tonumber(f[3] or '0') or 0
  local limit = tonumber(f[4] or '') or 0
  local endms = tonumber(f[5] or '') or 0
  if nxt < 0 or (limit > 0 and runs >= limit) or (endms > 0 and nxt > endms) then
    newst = 'completed'
  elseif runs > 0 then
    newst = 'active'
  else
    newst = 'queued'
  end
elseif op == 'cancel' then
  if st == 'cancelled' then return {'ok', st} end
  if st ~= 'queued' and st ~= 'active' and st ~= 'paused' then return {'conflict', st} end
  newst = 'cancelled'
else
  return redis.error_reply('job_state: unknown op ' .. op)
end

if newst == 'queued' or newst == 'active' then
  redis.call('HSET', KEYS[1], 'next', nextStr)
  redis.call('ZADD', KEYS[2], nextStr, id)
else
  redis.call('ZREM', KEYS[2], id)
  if newst == 'completed' then
    redis.call('HSET', KEYS[1], 'next', '')
  end
end
redis.call('HSET', KEYS[1], 'st', newst, 'ua', ARGV[4])
redis.call('HDEL', KEYS[1], 'owner')
redis.call('ZREM', base .. 'jobs:idx:' .. st, id)
redis.call('ZADD', base .. 'jobs:idx:' .. newst, 0, id)
if newst == 'completed' or newst == 'cancelled' then
  redis.call('PEXPIRE', KEYS[1], ret)
  redis.call('PEXPIRE', base .. 'jobs:fires:' .. id, ret)
  local done = base .. 'jobs:done'
  redis.call('ZADD', done, ARGV[4], id)
  local old = redis.call('ZRANGEBYSCORE', done, '-inf', '(' .. string.format('%.0f', now - ret), 'LIMIT', 0, 100)
  for _, o in ipairs(old) do
    redis.call('ZREM', base .. 'jobs:idx:all', o)
    redis.call('ZREM', base .. 'jobs:idx:completed', o)
    redis.call('ZREM', base .. 'jobs:idx:cancelled', o)
    redis.call('ZREM', done, o)
  end
end
return {'ok', newst}

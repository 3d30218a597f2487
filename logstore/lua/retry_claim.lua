-- retry_claim.lua: claim the retries of one workspace that are due, for one
-- retry pump. A claim is a lease, as in job_claim.lua: the message's score
-- in the due set moves to the end of the lease, so no other pump sees it;
-- a pump that dies holding it loses it when the lease runs out, and the
-- next one publishes the same attempt again, under the same message id
-- (JetStream drops the copy inside its duplicate window; past it, the
-- worker's claim drops the second job).
--
-- Nothing is claimed unless the ledger check has vouched for this Redis
-- recently (the ledger key, set with a short TTL by worker.Ledger): a Redis
-- restored from an older snapshot comes back without it, and must be
-- checked before anything is re-sent. After a detected rollback, a retry
-- that was already due when it was detected, of an entry made before it,
-- may have been sent in the time the snapshot lost: it is taken out of
-- the due set and reported, not sent again.
--
-- KEYS[1] retry due set   KEYS[2] ledger key   KEYS[3] workspace meta hash
-- ARGV[1] key base   ARGV[2] now ms   ARGV[3] lease ms   ARGV[4] most to claim
-- Returns {"unchecked"}, or {"ok", lease end ms, {id, entry, ...}, {suspect id, ...}}.
local base = ARGV[1]
local now = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then return {'unchecked'} end
local rb = redis.call('HMGET', KEYS[3], 'rb', 'rbt', 'rbf')
local rbseq, rbt, rbf = tonumber(rb[1] or '-1'), tonumber(rb[2] or '0'), tonumber(rb[3] or '0')
local untl = string.format('%.0f', now + tonumber(ARGV[3]))
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))
local claimed, suspects = {}, {}
for k = 1, #due, 2 do
  local id, score = due[k], tonumber(due[k + 1])
  local raw = redis.call('GET', base .. 'm:' .. id)
  if not raw then
    redis.call('ZREM', KEYS[1], id)
  else
    local h = load_state(raw)
    if h.st ~= 'pending' and h.st ~= 'reprocessing' then
      redis.call('ZREM', KEYS[1], id) -- settled meanwhile (cancelled)
    elseif rbseq >= 0 and h.seq < rbseq and score <= rbt and score > rbf then
      redis.call('ZREM', KEYS[1], id)
      suspects[#suspects + 1] = id
    else
      redis.call('ZADD', KEYS[1], untl, id)
      claimed[#claimed + 1] = id
      claimed[#claimed + 1] = raw
    end
  end
end
return {'ok', untl, claimed, suspects}

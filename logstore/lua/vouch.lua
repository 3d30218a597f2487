-- Vouch for this Redis on behalf of the ledger, but only if it still holds
-- the counters the ledger just compared with its checkpoint. A check whose
-- reads spanned a restart (counters read from the old Redis, the vouch
-- landing on one restored from an older snapshot) finds the counters
-- lower here and leaves the restored Redis unvouched, so the next check
-- sees the rollback before anything re-sends from it.
-- KEYS[1] meta hash, KEYS[2] vouch key
-- ARGV[1] seq seen, ARGV[2] records seen, ARGV[3] ttl in ms
-- Returns 1 when vouched, 0 when the counters went back.
local v = redis.call('HMGET', KEYS[1], 'seq', 'rec')
local seq = tonumber(v[1]) or 0
local rec = tonumber(v[2]) or 0
if seq < tonumber(ARGV[1]) or rec < tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return 1

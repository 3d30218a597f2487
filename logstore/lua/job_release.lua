-- job_release.lua: hand a claimed job back before its lease runs out, so
-- that it is due again at `at` (a replica stopping, or a fire the producer
-- could not take right now). Only the claim's owner may release, and only
-- while the slot it claimed is still the job's next: a claim another
-- replica has since taken over or committed is left alone.
--
-- KEYS[1] job hash   KEYS[2] due sorted set
-- ARGV[1] job id   ARGV[2] slot ms   ARGV[3] owner   ARGV[4] due again at, ms
-- Returns 1 when released, 0 when the claim was no longer this owner's.
local f = redis.call('HMGET', KEYS[1], 'st', 'next', 'owner')
if (f[1] == 'queued' or f[1] == 'active') and f[2] == ARGV[2] and f[3] == ARGV[3] then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  redis.call('HDEL', KEYS[1], 'owner')
  return 1
end
return 0

-- retry_done.lua: settle a pump's claim of retries: each published one
-- leaves the due set, each the pump could not publish is due again at once
-- (not only when the lease runs out), but only while it is still the
-- claim this pump made (its score is the claim's lease end): a worker that
-- already made the attempt and scheduled the next one has moved the
-- score, and that next retry must stay as it is.
--
-- KEYS[1] retry due set
-- ARGV[1] the claim's lease end ms (retry_claim.lua's answer)
-- ARGV[2..] pairs: message id, then "" (published: remove) or the ms it is
--   due again
-- Returns how many were settled.
local n = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if tonumber(redis.call('ZSCORE', KEYS[1], id) or '-1') == tonumber(ARGV[1]) then
    if ARGV[i + 1] == '' then
      redis.call('ZREM', KEYS[1], id)
    else
      redis.call('ZADD', KEYS[1], ARGV[i + 1], id)
    end
    n = n + 1
  end
end
return n

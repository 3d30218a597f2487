-- retry_done.lua: take published retries out of the due set, each only if
-- it is still the claim this pump made (its score is the claim's lease
-- end): a worker that already made the attempt and scheduled the next one
-- has moved the score, and that next retry must stay.
--
-- KEYS[1] retry due set
-- ARGV[1] the claim's lease end ms (retry_claim.lua's answer)   ARGV[2..] message ids
-- Returns how many were removed.
local n = 0
for i = 2, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]) or '-1') == tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n

-- ratelimit.lua: debit an API key's shared rate limit (GCRA).
--
-- A key's limit is a "theoretical arrival time" (TAT, in microseconds): the
-- moment its bucket would be full again if nothing more were taken. Taking
-- cost c moves it to max(TAT, now) + c * interval. The API decides on its
-- own copy of the TAT (no round trip before answering) and debits here
-- afterwards, so a debit is never refused: a key over its limit makes the
-- TAT run ahead, and every replica that learns it refuses until the TAT
-- falls back within the burst.
--
-- KEYS[1] the key's limit
-- ARGV[1] now (µs)   ARGV[2] interval (µs per request)   ARGV[3] cost
-- Returns the new TAT (µs).
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat + tonumber(ARGV[3]) * tonumber(ARGV[2])
-- The key lives while its bucket is not full (past that its TAT changes
-- nothing), plus a minute: "now" is the replica's clock at its decision,
-- which may lag Redis's by the debit's delay or the clocks' skew.
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 60000)
return tat

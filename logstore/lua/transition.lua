-- transition.lua: move an entry to another status (or only update its
-- error fields when ARGV[4] is ""), if its current status allows it.
--
-- KEYS[1] entry   KEYS[2] cache key to release, absent when none (never "":
-- on Redis Cluster an empty key is another slot)
-- ARGV[1] segment size (Config.SegmentSize)
-- ARGV[2] key base   ARGV[3] now ms   ARGV[4] new status or ""
-- ARGV[5] allowed current statuses, comma-separated
-- ARGV[6] "1" to set the error fields from ARGV[7] (code) and ARGV[8]
--         (message); empty values clear them
-- ARGV[9] "1" to start a new delivery generation (reprocess): bumps rp,
--         sets triggered_by to ARGV[10], keeping the first one as otb
-- ARGV[11] required generation or "" for any
-- Returns {"ok", status, generation}, {"missing"} or {"conflict", status}.
local SEG = tonumber(ARGV[1]) -- segment size (Config.SegmentSize)
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local nl = string.find(raw, '\n', 1, true)
local h = cjson.decode(string.sub(raw, 1, nl - 1))

local allowed = false
for s in string.gmatch(ARGV[5], '[^,]+') do
  if s == h.st then allowed = true end
end
if ARGV[11] ~= '' and tonumber(ARGV[11]) ~= (h.rp or 0) then allowed = false end
if not allowed then return {'conflict', h.st} end

local to = ARGV[4]
if to ~= '' and to ~= h.st then
  local seg = math.floor(h.seq / SEG)
  local pos = h.seq % SEG
  local b = ARGV[2] .. 'b:' .. seg .. ':st:'
  redis.call('SETBIT', b .. h.st, pos, 0)
  redis.call('SETBIT', b .. to, pos, 1)
  h.st = to
end
if ARGV[6] == '1' then
  h.ec = ARGV[7] ~= '' and ARGV[7] or nil
  h.err = ARGV[8] ~= '' and ARGV[8] or nil
end
if ARGV[9] == '1' then
  h.rp = (h.rp or 0) + 1
  h.ga = nil
  h.otb = h.otb or h.tb
  h.tb = ARGV[10]
  h.na = nil
end
h.ua = tonumber(ARGV[3])
-- un:1 marks "undelivered": an error and not sent (failed, or retrying).
redis.call('SETBIT', ARGV[2] .. 'b:' .. math.floor(h.seq / SEG) .. ':un:1', h.seq % SEG, (h.ec ~= nil and h.st ~= 'sent') and 1 or 0)
redis.call('SET', KEYS[1], cjson.encode(h) .. string.sub(raw, nl), 'KEEPTTL')
if KEYS[2] and redis.call('GET', KEYS[2]) == h.id then
  redis.call('DEL', KEYS[2])
end
return {'ok', h.st, h.rp or 0}

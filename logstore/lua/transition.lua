-- transition.lua: move an entry to another status (or only update its
-- error fields when ARGV[3] is ""), if its current status allows it.
--
-- KEYS[1] entry   KEYS[2] cache key to release or ""
-- ARGV[1] key base   ARGV[2] now ms   ARGV[3] new status or ""
-- ARGV[4] allowed current statuses, comma-separated
-- ARGV[5] "1" to set the error fields from ARGV[6] (code) and ARGV[7]
--         (message); empty values clear them
-- ARGV[8] "1" to start a new delivery generation (reprocess): bumps rp,
--         sets triggered_by to ARGV[9], keeping the first one as otb
-- ARGV[10] required generation or "" for any
-- Returns {"ok", status, generation}, {"missing"} or {"conflict", status}.
local SEG = 65536
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local nl = string.find(raw, '\n', 1, true)
local h = cjson.decode(string.sub(raw, 1, nl - 1))

local allowed = false
for s in string.gmatch(ARGV[4], '[^,]+') do
  if s == h.st then allowed = true end
end
if ARGV[10] ~= '' and tonumber(ARGV[10]) ~= (h.rp or 0) then allowed = false end
if not allowed then return {'conflict', h.st} end

local to = ARGV[3]
if to ~= '' and to ~= h.st then
  local seg = math.floor(h.seq / SEG)
  local pos = h.seq % SEG
  local b = ARGV[1] .. 'b:' .. seg .. ':st:'
  redis.call('SETBIT', b .. h.st, pos, 0)
  redis.call('SETBIT', b .. to, pos, 1)
  h.st = to
end
if ARGV[5] == '1' then
  h.ec = ARGV[6] ~= '' and ARGV[6] or nil
  h.err = ARGV[7] ~= '' and ARGV[7] or nil
end
if ARGV[8] == '1' then
  h.rp = (h.rp or 0) + 1
  h.ga = nil
  h.otb = h.otb or h.tb
  h.tb = ARGV[9]
  h.na = nil
end
h.ua = tonumber(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(h) .. string.sub(raw, nl), 'KEEPTTL')
if KEYS[2] ~= '' and redis.call('GET', KEYS[2]) == h.id then
  redis.call('DEL', KEYS[2])
end
return {'ok', h.st, h.rp or 0}

-- transition.lua: move an entry to another status (or only update its
-- error fields when ARGV[4] is ""), if its current status allows it.
--
-- KEYS[1] entry   KEYS[2] cache key to release, absent when none
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
-- The state line "v|seq|ca|ua|st|a|ga|rp|na|tb|otb|ec|err" (entry.go)
-- is all a transition reads or writes; the JSON after it is never decoded.
local function load_state(raw)
  local nl = string.find(raw, '\n', 1, true)
  local line = string.sub(raw, 1, nl - 1)
  local f, pos = {}, 1
  for i = 1, 12 do
    local p = string.find(line, '|', pos, true)
    f[i] = string.sub(line, pos, p - 1)
    pos = p + 1
  end
  f[13] = string.sub(line, pos)
  return {seq = tonumber(f[2]), ca = f[3], ua = f[4], st = f[5], a = tonumber(f[6]), ga = tonumber(f[7]),
    rp = tonumber(f[8]), na = f[9], tb = f[10], otb = f[11], ec = f[12], err = f[13]}, string.sub(raw, nl)
end

local function save_state(h, rest)
  return table.concat({'1', h.seq, h.ca, h.ua, h.st, h.a, h.ga, h.rp, h.na, h.tb, h.otb, h.ec, h.err}, '|') .. rest
end

local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local h, rest = load_state(raw)

local allowed = false
for s in string.gmatch(ARGV[5], '[^,]+') do
  if s == h.st then allowed = true end
end
if ARGV[11] ~= '' and tonumber(ARGV[11]) ~= h.rp then allowed = false end
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
  h.ec = ARGV[7]
  h.err = ARGV[8]
end
if ARGV[9] == '1' then
  h.rp = h.rp + 1
  h.ga = 0
  if h.otb == '' then h.otb = h.tb end
  h.tb = ARGV[10]
  h.na = ''
end
h.ua = ARGV[3]
-- un:1 marks "undelivered": an error and not sent (failed, or retrying).
redis.call('SETBIT', ARGV[2] .. 'b:' .. math.floor(h.seq / SEG) .. ':un:1', h.seq % SEG, (h.ec ~= '' and h.st ~= 'sent') and 1 or 0)
redis.call('SET', KEYS[1], save_state(h, rest), 'KEEPTTL')
if KEYS[2] and redis.call('GET', KEYS[2]) == string.match(KEYS[1], 'm:(.*)$') then
  redis.call('DEL', KEYS[2])
end
return {'ok', h.st, h.rp}

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
-- ARGV[12] "1": only if no delivery of this generation has started — no
--         attempt made, none scheduled, no lease held (claim.lua). A
--         producer that could not confirm its publish abandons the message
--         this way; if a worker already has it, the answer is {"touched",
--         status} and the job is known to have reached JetStream.
-- Every applied transition bumps the meta hash's "rec" counter (ledger).
-- Returns {"ok", status, generation}, {"missing"}, {"conflict", status}
-- or {"touched", status}.
local SEG = tonumber(ARGV[1]) -- segment size (Config.SegmentSize)

local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local h, rest = load_state(raw)

local allowed = false
for s in string.gmatch(ARGV[5], '[^,]+') do
  if s == h.st then allowed = true end
end
if ARGV[11] ~= '' and tonumber(ARGV[11]) ~= h.rp then allowed = false end
if not allowed then return {'conflict', h.st} end
local id = string.match(KEYS[1], 'm:(.*)$')
if ARGV[12] == '1' and (h.ga > 0 or h.na ~= '' or redis.call('EXISTS', ARGV[2] .. 'l:' .. id) == 1) then
  return {'touched', h.st}
end

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
if KEYS[2] and redis.call('GET', KEYS[2]) == id then
  redis.call('DEL', KEYS[2])
end
redis.call('HINCRBY', ARGV[2] .. 'meta', 'rec', 1)
return {'ok', h.st, h.rp}

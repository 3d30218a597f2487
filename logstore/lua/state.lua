-- state.lua: the prelude of the scripts that change an entry (attempt.lua,
-- transition.lua); store.go prepends it to them.
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

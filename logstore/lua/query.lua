-- query.lua: one page of a workspace's log, newest first, with the exact
-- total, using only the indexes.
--
-- Every entry has a sequence number (its position in creation order, which
-- is also created_at order). Sequence space is cut into segments of SEG;
-- per segment there is one record string (id and created_at per position)
-- and one bitmap per filter term. A date range becomes a sequence range by
-- binary search over the records; a filter combination is the AND of its
-- bitmaps; totals are BITCOUNTs; a page is found scanning the AND backwards.
-- process_id / campaign_id filters are sorted sets (score = seq) checked
-- against the bitmaps member by member.
--
-- KEYS[1] workspace meta hash
-- ARGV[1] segment size (Config.SegmentSize)
-- ARGV[2] key base   ARGV[3] from ms (inclusive)   ARGV[4] to ms (inclusive)
-- ARGV[5] cursor: only seqs below it (-1: none)   ARGV[6] skip   ARGV[7] limit
-- ARGV[8] scratch key suffix   ARGV[9] zset suffix or ""   ARGV[10] second zset or ""
-- ARGV[11] input limit: 0 returns whole entries; else an entry whose input
--          is longer comes back without it (state line and header only)
-- ARGV[12..] bitmap terms
-- Returns {total, seq1, id1, entry1, cut1, seq2, id2, entry2, cut2, ...}
-- where cut is the length of the input left out (0: the entry is whole).
-- The limit is what bounds a page: 200 entries of 1 MiB inputs would
-- otherwise be built here as one 200 MB reply.
local SEG = tonumber(ARGV[1]) -- segment size (Config.SegmentSize)
local REC = 34
local base = ARGV[2]
local nextseq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if nextseq == 0 then return {0} end
local low = tonumber(redis.call('HGET', KEYS[1], 'low') or '0')
local from_ts = tonumber(ARGV[3])
local to_ts = tonumber(ARGV[4])
local cursor = tonumber(ARGV[5])
local skip = tonumber(ARGV[6])
local limit = tonumber(ARGV[7])
local tmp = base .. 'tmp:' .. ARGV[8]
local zkey = ARGV[9] ~= '' and (base .. ARGV[9]) or nil
local zkey2 = ARGV[10] ~= '' and (base .. ARGV[10]) or nil
local inlimit = tonumber(ARGV[11])
local terms = {}
for i = 12, #ARGV do terms[#terms + 1] = ARGV[i] end

local function ts_at(seq)
  local s = redis.call('GETRANGE', base .. 'q:' .. math.floor(seq / SEG), (seq % SEG) * REC + 26, (seq % SEG) * REC + 33)
  if #s < 8 then return nil end
  return struct.unpack('>d', s)
end

-- first sequence number whose created_at >= t (nextseq when none)
local function first_ge(t)
  local lo, hi = low, nextseq
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local v = ts_at(mid)
    if v == nil or v < t then lo = mid + 1 else hi = mid end
  end
  return lo
end

local lo_seq = first_ge(from_ts)
local hi_seq = first_ge(to_ts + 1) - 1
local page_hi = hi_seq
if cursor >= 0 and cursor - 1 < page_hi then page_hi = cursor - 1 end
if hi_seq < lo_seq then return {0} end

local out = {}
local total = 0

local function take(seq)
  if skip > 0 then
    skip = skip - 1
  else
    out[#out + 1] = seq
  end
end

if zkey then
  if #terms == 0 and not zkey2 then
    -- The set alone: its own counts and ranges.
    total = redis.call('ZCOUNT', zkey, lo_seq, hi_seq)
    if page_hi >= lo_seq then
      local members = redis.call('ZREVRANGEBYSCORE', zkey, page_hi, lo_seq, 'WITHSCORES', 'LIMIT', skip, limit)
      for i = 1, #members, 2 do out[#out + 1] = tonumber(members[i + 1]) end
    end
  else
    -- Members checked against the bitmaps, each segment's bitmap read
    -- once into a Lua string rather than one GETBIT per member.
    local cache = {}
    local function isset(key, pos)
      local str = cache[key]
      if str == nil then
        str = redis.call('GET', key) or ''
        cache[key] = str
      end
      local byte = string.byte(str, math.floor(pos / 8) + 1) or 0
      return bit.band(byte, bit.rshift(128, pos % 8)) ~= 0
    end
    local members = redis.call('ZREVRANGEBYSCORE', zkey, hi_seq, lo_seq, 'WITHSCORES')
    for i = 1, #members, 2 do
      local seq = tonumber(members[i + 1])
      local seg = math.floor(seq / SEG)
      local pos = seq % SEG
      local ok = true
      for _, t in ipairs(terms) do
        if ok and not isset(base .. 'b:' .. seg .. ':' .. t, pos) then ok = false end
      end
      if ok and zkey2 and not redis.call('ZSCORE', zkey2, members[i]) then ok = false end
      if ok then
        total = total + 1
        if seq <= page_hi and #out < limit then take(seq) end
      end
    end
  end
else
  local CH = 512
  local function scan(src, a, b, segbase)
    local e = math.floor(b / 8)
    local lob = math.floor(a / 8)
    while e >= lob and #out < limit do
      local s0 = e - CH + 1
      if s0 < lob then s0 = lob end
      local ca = s0 * 8
      if ca < a then ca = a end
      local cb = e * 8 + 7
      if cb > b then cb = b end
      local n = redis.call('BITCOUNT', src, ca, cb, 'BIT')
      if n > 0 then
        if skip >= n then
          skip = skip - n
        else
          local chunk = redis.call('GETRANGE', src, s0, e)
          for i = #chunk, 1, -1 do
            local byte = string.byte(chunk, i)
            if byte ~= 0 then
              local bytebit = (s0 + i - 1) * 8
              for k = 7, 0, -1 do
                local off = bytebit + k
                if off >= ca and off <= cb and bit.band(byte, bit.lshift(1, 7 - k)) ~= 0 then
                  take(segbase + off)
                  if #out >= limit then return end
                end
              end
            end
          end
        end
      end
      e = s0 - 1
    end
  end

  local scratch = false
  for seg = math.floor(hi_seq / SEG), math.floor(lo_seq / SEG), -1 do
    local segbase = seg * SEG
    local a = lo_seq - segbase
    if a < 0 then a = 0 end
    local b = hi_seq - segbase
    if b > SEG - 1 then b = SEG - 1 end
    local src
    if #terms == 0 then
      src = base .. 'b:' .. seg .. ':all'
    elseif #terms == 1 then
      src = base .. 'b:' .. seg .. ':' .. terms[1]
    else
      local ks = {}
      for i, t in ipairs(terms) do ks[i] = base .. 'b:' .. seg .. ':' .. t end
      redis.call('BITOP', 'AND', tmp, unpack(ks))
      scratch = true
      src = tmp
    end
    local n = redis.call('BITCOUNT', src, a, b, 'BIT')
    total = total + n
    if n > 0 and #out < limit then
      local pb = page_hi - segbase
      if pb > b then pb = b end
      if pb >= a then scan(src, a, pb, segbase) end
    end
  end
  if scratch then redis.call('DEL', tmp) end
end

-- HEAD bounds the state line and header of an entry (short fields, an
-- error cut to 1 KiB); an entry whose two first lines do not fit in it is
-- returned whole rather than misread.
local HEAD = 16384

-- read returns an entry, or its first two lines and the input length left
-- out when the input is longer than the limit.
local function read(key)
  if inlimit <= 0 then return redis.call('GET', key) or '', 0 end
  local n = redis.call('STRLEN', key)
  if n == 0 then return '', 0 end
  if n <= inlimit then return redis.call('GET', key), 0 end
  local head = redis.call('GETRANGE', key, 0, HEAD - 1)
  local a = string.find(head, '\n', 1, true)
  local b = a and string.find(head, '\n', a + 1, true)
  if not b then return redis.call('GET', key), 0 end
  if n - b <= inlimit then
    if n <= HEAD then return head, 0 end
    return redis.call('GET', key), 0
  end
  return string.sub(head, 1, b), n - b
end

local res = {total}
for _, seq in ipairs(out) do
  local rec = redis.call('GETRANGE', base .. 'q:' .. math.floor(seq / SEG), (seq % SEG) * REC, (seq % SEG) * REC + 25)
  local entry, cut = read(base .. 'm:' .. rec)
  res[#res + 1] = seq
  res[#res + 1] = rec
  res[#res + 1] = entry
  res[#res + 1] = cut
end
return res

-- wrk script of the end-to-end benchmark (scripts/bench e2e): POSTs realistic Telegram updates
-- (with the secret-token header) and WhatsApp Cloud API notifications (signed with
-- X-Hub-Signature-256, HMAC-SHA256 computed here: wrk's LuaJIT has no crypto library) for
-- many distinct learners, each walking a course: the first text starts a flow, the next ones
-- answer its questions, and the walk repeats.
--
--   wrk -t2 -c64 -d20s --latency -s webhooks.lua http://127.0.0.1:8080 -- key=value ...
--     users=10000       distinct learners, split evenly across wrk's threads
--     threads=2         must equal wrk's -t
--     channel=telegram  telegram | whatsapp | mix (even learners Telegram, odd WhatsApp)
--     walk=/start x|2|1 the texts each learner sends in turn, separated by |
--     base=700000000    first learner's Telegram chat id; WhatsApp numbers are 52 + 10 digits
--                       made of the same id (5270000000 + i)
--     run=1             a run number, part of every update_id and WhatsApp message id, so a
--                       new run is never taken for a redelivery of an old one
--     tg_path=/webhooks/telegram   tg_secret=...   (X-Telegram-Bot-Api-Secret-Token)
--     wa_path=/webhooks/whatsapp   wa_secret=...   (the app secret)   wa_pnid=...  (phone id)
--
--     stagger=N         learners spread over N steps of the walk (default: the walk's length);
--                       stagger=1 puts every learner of a slice at the same step (lockstep)
--
-- Each thread walks its slice of learners round-robin, a round visiting each learner once:
-- one learner's consecutive messages are users/threads visits apart, so a learner never has
-- two messages in flight. A cohort's learners are at different steps of a course, and steps
-- differ in cost (one sends six messages, another one), so the slice's learner j starts
-- (j mod stagger) rounds late: once all have started, each round holds every step of the
-- walk in equal shares, interleaved (neighbours in a round are at different steps). With
-- stagger=1 the whole slice moves in lockstep, every request of a round at the same step: the
-- latency then swings with the step's cost, round by round.
-- A RESULT_JSON line at the end gives requests, rps, HTTP 200 / non-200, socket errors,
-- latency percentiles, how many learners started, and how many messages were sent at each
-- position of the walk (position r: a learner's (r+1)-th message; the harness derives the
-- replies and answers to expect from a probe learner).

local bit = require("bit")
local band, bor, bxor, bnot, rshift, lshift, ror, tobit, tohex =
  bit.band, bit.bor, bit.bxor, bit.bnot, bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex

-- ---------------------------------------------------------------------------------------------
-- SHA-256 (FIPS 180-4) and HMAC (RFC 2104) on LuaJIT's 32-bit bit operations.

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local H0 = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
local W = {}

local function compress(H, s, off)
  for i = 0, 15 do
    local a, b, c, d = s:byte(off + i * 4, off + i * 4 + 3)
    W[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
  end
  for i = 16, 63 do
    local w15, w2 = W[i - 15], W[i - 2]
    local s0 = bxor(ror(w15, 7), ror(w15, 18), rshift(w15, 3))
    local s1 = bxor(ror(w2, 17), ror(w2, 19), rshift(w2, 10))
    W[i] = tobit(W[i - 16] + s0 + W[i - 7] + s1)
  end
  local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
  for i = 0, 63 do
    local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
    local ch = bxor(band(e, f), band(bnot(e), g))
    local t1 = tobit(h + S1 + ch + K[i + 1] + W[i])
    local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
    local maj = bxor(band(a, b), band(a, c), band(b, c))
    h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + S0 + maj)
  end
  H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
  H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
end

-- The hash state after `msg`, starting from `state` that already absorbed `prefix` bytes
-- (a multiple of 64); returns the 8 words.
local function sha256_words(state, prefix, msg)
  local H = { state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[8] }
  local bits = (prefix + #msg) * 8
  local pad = (55 - #msg) % 64
  msg = msg .. "\128" .. string.rep("\0", pad) .. "\0\0\0\0" ..
    string.char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255), band(rshift(bits, 8), 255), band(bits, 255))
  for off = 1, #msg, 64 do compress(H, msg, off) end
  return H
end

local function words_bytes(H)
  local t = {}
  for i = 1, 8 do
    local w = H[i]
    t[i] = string.char(band(rshift(w, 24), 255), band(rshift(w, 16), 255), band(rshift(w, 8), 255), band(w, 255))
  end
  return table.concat(t)
end

local function words_hex(H)
  local t = {}
  for i = 1, 8 do t[i] = tohex(H[i]) end
  return table.concat(t)
end

-- The states after the key's inner and outer pads, computed once per secret.
local function hmac_key(key)
  if #key > 64 then key = words_bytes(sha256_words(H0, 0, key)) end
  key = key .. string.rep("\0", 64 - #key)
  local ipad, opad = {}, {}
  for i = 1, 64 do
    local c = key:byte(i)
    ipad[i] = string.char(bxor(c, 0x36))
    opad[i] = string.char(bxor(c, 0x5c))
  end
  local inner = { H0[1], H0[2], H0[3], H0[4], H0[5], H0[6], H0[7], H0[8] }
  local outer = { H0[1], H0[2], H0[3], H0[4], H0[5], H0[6], H0[7], H0[8] }
  compress(inner, table.concat(ipad), 1)
  compress(outer, table.concat(opad), 1)
  return { inner = inner, outer = outer }
end

local function hmac_hex(k, msg)
  return words_hex(sha256_words(k.outer, 64, words_bytes(sha256_words(k.inner, 64, msg))))
end

-- ---------------------------------------------------------------------------------------------

local threads = {}
local next_tid = 1

function setup(thread)
  thread:set("tid", next_tid)
  table.insert(threads, thread)
  next_tid = next_tid + 1
end

local function options(args)
  local o = {
    users = "10000", threads = "2", channel = "telegram", walk = "curso|1|2|1|2|9",
    base = "700000000", run = "1", tg_path = "/webhooks/telegram", tg_secret = "", wa_path = "/webhooks/whatsapp",
    wa_secret = "", wa_pnid = "106540352242922", stagger = "",
  }
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then o[k] = v end
  end
  return o
end

function init(args)
  local o = options(args)
  users = tonumber(o.users)
  local nthreads = tonumber(o.threads)
  per = math.floor(users / nthreads)
  base_learner = (tid - 1) * per
  base = tonumber(o.base)
  run = tonumber(o.run)
  channel = o.channel
  walk = {}
  for t in (o.walk .. "|"):gmatch("([^|]*)|") do table.insert(walk, t) end
  nwalk = #walk
  stagger = tonumber(o.stagger) or nwalk
  if stagger < 1 then stagger = 1 end
  -- visits: learner slots visited (a late learner's slot is skipped until it starts);
  -- made: requests made.
  visits = 0
  made = 0
  tg_path, wa_path, wa_pnid = o.tg_path, o.wa_path, o.wa_pnid
  tg_headers = { ["Content-Type"] = "application/json", ["X-Telegram-Bot-Api-Secret-Token"] = o.tg_secret }
  wa_key = hmac_key(o.wa_secret)
  checked = false
  ok = 0
  bad = 0
  statuses = ""
end

local function json_string(s)
  return (s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

-- The next visit that sends: the slice's slot j in round n sends its (n - j % stagger + 1)-th
-- message, if it has started.
local function next_visit(v)
  while true do
    local j = v % per
    local position = math.floor(v / per) - j % stagger
    if position >= 0 then return v, j, position end
    v = v + 1
  end
end

function request()
  local v, j, position = next_visit(visits)
  local learner = base_learner + j
  local step = position % nwalk
  -- wrk calls the first thread's request() once before any connection, to check the request
  -- it makes (script_verify_request), and never sends that one: it must not use up a message
  -- (learner 0 would skip the walk's first text, and the counts per position be one off).
  if tid == 1 and not checked then
    checked = true
  else
    visits = v + 1
    made = made + 1
  end
  local seq = made
  local text = json_string(walk[step + 1])
  -- A number unique to this run, thread and request: update_id and WhatsApp message id.
  local uid = string.format("%.0f", run * 1e11 + tid * 1e10 + seq)
  local now = 1700000000 + math.floor(seq / 100)
  local tg = channel == "telegram" or (channel == "mix" and learner % 2 == 0)
  if tg then
    local cid = base + learner
    local body = string.format(
      '{"update_id":%s,"message":{"message_id":%d,' ..
      '"from":{"id":%d,"is_bot":false,"first_name":"Ana","last_name":"N%d","username":"learner%d","language_code":"es"},' ..
      '"chat":{"id":%d,"first_name":"Ana","last_name":"N%d","username":"learner%d","type":"private"},' ..
      '"date":%d,"text":"%s"}}',
      uid, seq, cid, cid, cid, cid, cid, cid, now, text)
    return wrk.format("POST", tg_path, tg_headers, body)
  end
  local wa = string.format("52%010d", (base + learner) % 10000000000)
  local body = string.format(
    '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":' ..
    '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},' ..
    '"contacts":[{"profile":{"name":"Ana N%d"},"wa_id":"%s"}],' ..
    '"messages":[{"from":"%s","id":"wamid.BENCH%s","timestamp":"%d","type":"text","text":{"body":"%s"}}]},' ..
    '"field":"messages"}]}]}',
    wa_pnid, learner, wa, wa, uid, now, text)
  local headers = { ["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = "sha256=" .. hmac_hex(wa_key, body) }
  return wrk.format("POST", wa_path, headers, body)
end

function response(status, hdrs, body)
  if status == 200 then
    ok = ok + 1
  else
    bad = bad + 1
    if #statuses < 200 then statuses = statuses .. tostring(status) .. " " end
  end
end

function done(summary, latency, requests)
  local tok, tbad, tmade, codes = 0, 0, 0, ""
  local steps = {}
  for _, t in ipairs(threads) do
    tok = tok + t:get("ok")
    tbad = tbad + t:get("bad")
    codes = codes .. (t:get("statuses") or "")
    local v, p, g = t:get("visits"), t:get("per"), t:get("stagger")
    tmade = tmade + t:get("made")
    -- Requests made at each position of the walk: the slots visited in round n are the first
    -- `visited` of the slice (all of them before the last round); those of a group k (slot
    -- j mod stagger = k) sent position n - k.
    local rounds = math.floor(v / p)
    for n = 0, rounds do
      local visited = n < rounds and p or v % p
      for k = 0, math.min(g - 1, n) do
        local slots = visited > k and math.floor((visited - 1 - k) / g) + 1 or 0
        if slots > 0 then steps[n - k + 1] = (steps[n - k + 1] or 0) + slots end
      end
    end
  end
  local secs = summary.duration / 1e6
  local st = {}
  for k = 1, #steps do st[k] = string.format("%d", steps[k] or 0) end
  io.write(string.format(
    "RESULT_JSON {\"requests\":%d,\"sent\":%d,\"learners\":%d,\"duration_s\":%.3f,\"rps\":%.1f,\"http200\":%d,\"non200\":%d," ..
    "\"non200_codes\":\"%s\",\"socket_errors\":%d,\"timeouts\":%d,\"sent_per_position\":[%s]," ..
    "\"lat_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f}}\n",
    summary.requests, tmade, steps[1] or 0, secs, summary.requests / secs, tok, tbad, codes,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
    table.concat(st, ","),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, latency.mean / 1000))
end

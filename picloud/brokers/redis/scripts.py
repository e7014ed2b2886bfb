"""The Lua scripts that make seq, history and retained values the cluster's.

Keys, under the broker prefix P: ``P:epoch`` (the cluster's epoch, a
string), ``P:seq`` (a hash: event -> last seq), ``P:hist:<event>`` (a stream
per event, entry id ``<seq>-0``, fields ``p`` the publish frame and ``t`` the
time in ms) and ``P:retained`` (a hash: event -> publish frame).

A script runs atomically, so the seq a message gets, its place in the stream
and its PUBLISH happen in one step: every hub sees the same order.

The epoch is created by whichever script first finds it missing (a Redis that
restarted empty): sequences restart with it.
"""

from __future__ import annotations

from ...exceptions import ProtocolError
from ...wire.codec import loads


def _epoch(new_epoch_arg: int) -> str:
    """Lua that sets ``epoch`` to the cluster's, creating it from
    ``ARGV[new_epoch_arg]`` (and restarting every seq) when it is missing."""
    return f"""
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[{new_epoch_arg}]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1])
end
"""

# KEYS: P:seq, P:epoch, P:hist:<event>, P:retained
# ARGV: event, frame without seq/epoch, channel, node tag, history size,
#       now ms, history ttl ms (0: none), retain (0 no, 1 set, 2 clear), new epoch
PUBLISH = _epoch(9) + """local seq = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local frame = string.sub(ARGV[2], 1, -2) .. ',"seq":' .. seq .. ',"epoch":"' .. epoch .. '"}'
local size = tonumber(ARGV[5])
if size > 0 then
  local id = seq .. '-0'
  local ok = redis.pcall('XADD', KEYS[3], 'MAXLEN', size, id, 'p', frame, 't', ARGV[6])
  if type(ok) == 'table' and ok.err then
    -- a stream older than the epoch (ids ahead of seq): start it again
    redis.call('DEL', KEYS[3])
    redis.call('XADD', KEYS[3], 'MAXLEN', size, id, 'p', frame, 't', ARGV[6])
  end
  local ttl = tonumber(ARGV[7])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
end
if ARGV[8] == '1' then
  redis.call('HSET', KEYS[4], ARGV[1], frame)
elseif ARGV[8] == '2' then
  redis.call('HDEL', KEYS[4], ARGV[1])
end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. frame)
return {seq, epoch}
"""

# KEYS: P:seq, P:epoch, P:hist:<event>, P:retained
# ARGV: event, history (0/1), retained (0 none, 1 the event's, 2 all),
#       control channel, marker ('' for none), new epoch
FETCH = _epoch(6) + """local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local kept = {}
if ARGV[2] == '1' then kept = redis.call('XRANGE', KEYS[3], '-', '+') end
local retained = {}
if ARGV[3] == '1' then
  local value = redis.call('HGET', KEYS[4], ARGV[1])
  if value then retained = {ARGV[1], value} end
elseif ARGV[3] == '2' then
  retained = redis.call('HGETALL', KEYS[4])
end
-- the marker reaches this node's subscriber connection after every message
-- published before this script ran
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {epoch, last, kept, retained}
"""


def splice(frame: bytes, seq: int, epoch: bytes) -> bytes:
    """``frame`` with seq and epoch, byte for byte as the PUBLISH script makes it."""
    return b'%s,"seq":%d,"epoch":"%s"}' % (frame[:-1], seq, epoch)


def stamp_of(frame: bytes) -> tuple[int, str]:
    """The (seq, epoch) of a stamped publish frame; (0, "") if it has none."""
    at = frame.rfind(b',"seq":')
    if at < 0:
        return 0, ""
    try:
        doc = loads(b"{" + frame[at + 1:])
        return int(doc["seq"]), str(doc["epoch"])
    except (ProtocolError, ValueError, KeyError, TypeError):
        return 0, ""

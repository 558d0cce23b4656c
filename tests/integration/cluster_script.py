# SPDX-License-Identifier: MIT
"""cluster_redis's Lua script in a real Redis, at chosen times (the policy protocol has no
clock of its own, so cluster.sh checks the windows here): the sliding hour of 60 one-minute
slots and the day of 24 one-hour slots as the core defines them (SPEC section 3),
retry_after, minute slots rolled into their hour, the refusing level, charges and refunds.

    python3 cluster_script.py SCRIPT_FILE REDIS_PORT
"""
import socket
import sys

script = open(sys.argv[1], "rb").read()
sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])), 3)
rf = sock.makefile("rb")


def read():
    line = rf.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = rf.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read() for _ in range(n)]
    raise RuntimeError("bad reply %r" % line)


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return read()


sha = cmd("SCRIPT", "LOAD", script)
T = 1767261600  # 2026-01-01 10:00:00 UTC, a multiple of 3600
M0, H0 = T // 60, T // 3600
checks = 0


def decide(keys, now, limits, cost=1):
    args = [len(keys)] + keys + [now, cost, 0]
    for hl, dl in limits:
        args += [hl, dl]
    return cmd("EVALSHA", sha, *args)


def charge(keys, now, cost):
    return cmd("EVALSHA", sha, len(keys), *keys, now, cost, 1)


def read_counts(key, now):
    return cmd("EVALSHA", sha, 1, key, now, 0, 2)


def expect(what, got, want):
    global checks
    checks += 1
    if got != want:
        raise SystemExit("FAIL: %s: got %r, want %r" % (what, got, want))


K = "cs:{s:x}:d:a.example"
cmd("DEL", K)
# hour 5, day 8: five in minutes 0..4 of hour H0
for i in range(5):
    expect("allowed %d" % i, decide([K], T + 60 * i, [(5, 8)]), [1, 0, 0, 0, 0, 0, i])
# the sixth: hour full; minute 0 leaves the window at the start of minute M0+60
expect("hour full", decide([K], T + 300, [(5, 8)]), [0, 0, 0, 5, 5, 3300, 5])
expect("hour full a second later", decide([K], T + 3599, [(5, 8)])[5], 1)
# minute M0+60: minute 0 is out of the hour (4 left), the day still counts it
expect("minute 0 left the hour", decide([K], T + 3600, [(5, 8)]), [1, 0, 0, 0, 0, 0, 4])
expect("counts at minute 60", read_counts(K, T + 3600), [5, 6])
# minute 0 left the hour for its hour's slot; minute 60 is the key's latest (t - b)
def fields_of(key):
    v = cmd("HGETALL", key)
    return dict(zip(v[::2], v[1::2]))
expect("minute 0 rolled", fields_of(K), {"l": str(M0 + 60), "t": "5", "b": "4", "e": "1",
                                         "h%d" % H0: "1",
                                         "m%d" % (M0 + 1): "1", "m%d" % (M0 + 2): "1",
                                         "m%d" % (M0 + 3): "1", "m%d" % (M0 + 4): "1"})
expect("minute 61", decide([K], T + 3660, [(5, 8)]), [1, 0, 0, 0, 0, 0, 4])
expect("minute 61, hour full", decide([K], T + 3661, [(5, 8)])[:5], [0, 0, 0, 5, 5])
# minute 120: the hour has minute 61 only, the day 7 of 8
expect("day 7 of 8", decide([K], T + 7200, [(5, 8)]), [1, 0, 0, 0, 0, 0, 1])
# day full: the slot of hour H0 (5 units) leaves at the start of hour H0+24
expect("day full", decide([K], T + 7201, [(5, 8)]), [0, 0, 1, 8, 8, 86400 - 7201, 2])
expect("counts at T+7201", read_counts(K, T + 7201), [2, 8])
# a day later hour H0 is out of the window: 3 left
expect("next day", decide([K], T + 86400, [(5, 8)]), [1, 0, 0, 0, 0, 0, 0])
expect("counts next day", read_counts(K, T + 86400), [1, 4])
# a cost larger than the limit never fits; a limit of 0 never admits
expect("cost over the limit", decide([K], T + 86400, [(5, 8)], cost=6)[5], -1)
expect("limit 0", decide([K], T + 86400, [(0, -1)])[:6], [0, 0, 0, 0, 1, -1])
# unlimited (-1) in both windows admits anything
expect("unlimited", decide([K], T + 86400, [(-1, -1)], cost=1000)[0], 1)
# a refund (negative charge) at the same time takes it back
charge([K], T + 86400, -1000)
expect("refunded", read_counts(K, T + 86400), [1, 4])

# a chain: mailbox (limit 3), domain (limit 3), subscription (limit 10)
mb, dm, sb = "cs:{s:y}:m:u@b.example", "cs:{s:y}:d:b.example", "cs:{s:y}:s"
cmd("DEL", mb, dm, sb)
lim = [(3, -1), (3, -1), (10, -1)]
for i in range(3):
    expect("chain %d" % i, decide([mb, dm, sb], T + i, lim)[0], 1)
# mailbox and domain both full with the same retry_after: the higher level (domain) is named
expect("tie: the higher level", decide([mb, dm, sb], T + 10, lim), [0, 1, 0, 3, 3, 3590, 3])
# nothing was charged by the refusal
expect("refusal charges nothing", [read_counts(k, T + 10)[0] for k in (mb, dm, sb)], [3, 3, 3])
# the domain's limit with the later retry (a day limit) is named over the mailbox's hour
expect("larger retry_after wins", decide([mb, dm, sb], T + 10, [(3, -1), (10, 3), (10, -1)])[:3],
       [0, 1, 1])
# "never" (-1) wins over any number of seconds
expect("never wins", decide([mb, dm, sb], T + 10, [(3, -1), (10, -1), (2, -1)])[1:3], [2, 0])
# charges with an older time (an outage's decisions added later) land in their minute
charge([mb, dm, sb], T - 120, 2)
expect("charged at T-120", read_counts(dm, T + 10), [5, 5])
expect("gone an hour after", read_counts(dm, T + 3600 - 120), [3, 5])
# stale fields are deleted by the next decision that reads the key
expect("after a day", decide([dm], T + 2 * 86400, [(3, -1)]), [1, 0, 0, 0, 0, 0, 0])
M2 = (T + 2 * 86400) // 60
expect("only the new minute left", fields_of(dm), {"l": str(M2), "t": "1", "b": "0", "e": "0"})
# every key gets a lifetime (25 hours)
expect("expires", 0 < cmd("TTL", dm) <= 90000, True)
# a relay whose clock is a minute behind: its unit lands in its minute, counted in the
# latest minute's windows
S = "cs:{s:v}:s"
cmd("DEL", S)
expect("clock ahead", decide([S], T + 120, [(5, -1)])[0], 1)
expect("clock behind", decide([S], T + 60, [(5, -1)]), [1, 0, 0, 0, 0, 0, 1])
expect("clock behind: counts", read_counts(S, T + 60), [2, 2])
expect("clock behind: its minute", fields_of(S).get("m%d" % (M0 + 1)), "1")

# a key without totals (another layout's slots) starts afresh
F = "cs:{s:u}:s"
cmd("DEL", F)
cmd("HSET", F, "m%d" % (M0 - 1), "7", "h%d" % (H0 - 1), "9")
expect("foreign fields ignored", decide([F], T, [(1, -1)]), [1, 0, 0, 0, 0, 0, 0])
expect("foreign fields dropped", fields_of(F), {"l": str(M0), "t": "1", "b": "0", "e": "0"})
expect("foreign fields: next minute", decide([F], T + 60, [(2, -1)]), [1, 0, 0, 0, 0, 0, 1])

# a refusal does not create a key
expect("refused, no key", decide(["cs:{s:z}:s"], T, [(0, -1)])[0], 0)
expect("refused, no key: exists", cmd("EXISTS", "cs:{s:z}:s"), 0)

# a key busy for days keeps one field per slot of its windows (a decision reads four of them,
# whatever the key's history): a unit in each of 3000 minutes (two days), checked against a model
B = "cs:{s:w}:s"
cmd("DEL", B)
units = {}
for i in range(3000):
    t = T + 60 * i + (i * 7) % 60
    got = decide([B], t, [(1000000, -1)])
    m = t // 60
    hour_count = sum(n for p, n in units.items() if m - 60 < p <= m)
    expect("busy key, minute %d: count before" % i, got, [1, 0, 0, 0, 0, 0, hour_count])
    units[m] = units.get(m, 0) + 1
    if i % 500 == 499:
        h = m // 60
        day = sum(n for p, n in units.items() if h - 24 < p // 60 <= h)
        expect("busy key, minute %d: counts" % i, read_counts(B, t), [hour_count + 1, day])
        # l t b e, the hour's 59 earlier minutes, the hours of the day that minutes left
        expect("busy key, minute %d: fields" % i, len(fields_of(B)),
               4 + 59 + (i - 60) // 60 - max(0, i // 60 - 23) + 1)
# a refund of an earlier minute still in the hour, and a charge in a minute the hour has left
# (still in the day)
t = T + 60 * 2999
charge([B], t - 600, -1)
charge([B], t - 3700, 4)
expect("busy key: refund and late charge", read_counts(B, t),
       [60 - 1, sum(n for p, n in units.items() if (t // 3600) - 24 < p // 60) - 1 + 4])
print("ok: cluster_redis script, %d checks" % checks)

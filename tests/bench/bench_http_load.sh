#!/bin/bash
# SPDX-License-Identifier: MIT
# Does a page view slow the policy path? bench_policy's load (realistic Postfix requests from
# 10000 senders over 1000 domains, one outstanding request per connection) against maillimitd
# four times:
#   off     no http_listen
#   idle    http_listen, nobody looks
#   browse  http_listen and a client fetching 10 pages a second (a few admins and a scrape)
#   pages   http_listen and a client fetching pages back to back the whole time
# The pages: General, the 10000 mailboxes sorted by count (a status read for each), the
# domains sorted by count, an entity page with its chart, /metrics.
# round after round (the modes alternate, so load drifting on a shared machine falls on all
# three), and prints per mode the medians of maillimitd's requests/s, p50/p99/max latency and
# its throughput as a share of bench_policy's do-nothing server measured alongside, with the
# page views/s the client got. The page client runs at nice 19
# (an admin's browser is usually elsewhere); maillimitd renders on its HTTP thread at
# SCHED_IDLE. Figures are reported, not enforced.
#
#   bench_http_load.sh BENCH_POLICY MAILLIMITD [--seconds S] [--rounds N] [--conns 8,64] [--quick]
set -u
BENCH=${1:?usage: bench_http_load.sh BENCH_POLICY MAILLIMITD [--seconds S] [--rounds N] [--conns 8,64]}
MAILLIMITD=${2:?usage: bench_http_load.sh BENCH_POLICY MAILLIMITD [options]}
shift 2
SECONDS_PER=3
# The page client runs at nice 19 (it must not take CPU from the policy path being measured);
# --quick, a smoke test on a busy CI machine, runs it at nice 0 so that it starts at all.
PAGE_NICE=19
ROUNDS=5
CONNS=8,64
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --quick) SECONDS_PER=1; ROUNDS=1; CONNS=8; PAGE_NICE=0; shift ;;
    *) echo "unknown option $1"; exit 2 ;;
    esac
done
command -v python3 >/dev/null || { echo "needs python3"; exit 1; }

T=$(mktemp -d /tmp/bench-http.XXXXXX)
LOADER=
cleanup() {
    [ -n "$LOADER" ] && kill "$LOADER" 2>/dev/null && wait "$LOADER" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
HPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# bench_policy runs "maillimitd -f -c FILE": this one adds http_listen to FILE and becomes
# maillimitd (exec: bench_policy's CPU figures stay maillimitd's own)
cat > "$T/maillimitd-http" <<EOF
#!/bin/bash
echo "http_listen inet:127.0.0.1:$HPORT" >> "\$3"
exec "$MAILLIMITD" "\$@"
EOF
chmod +x "$T/maillimitd-http"

# the page client: waits for the listener, then fetches pages until killed
cat > "$T/pages.py" <<'EOF'
import http.client, sys, time
port, out, pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
paths = ["/", "/mailboxes?sort=count", "/domains?sort=count",
         "/mailbox/user17@dom17.example", "/metrics"]
n, t0, c = 0, None, None
while True:
    try:
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", paths[n % len(paths)])
        c.getresponse().read()
        if t0 is None:
            t0 = time.monotonic()
        n += 1
        open(out, "w").write("%d %.3f\n" % (n, time.monotonic() - t0))
        if pause:
            time.sleep(pause)
    except (OSError, http.client.HTTPException):
        c = None
        time.sleep(0.05)
EOF

run() { # mode round
    local mode=$1 server=$MAILLIMITD
    [ "$mode" != off ] && server=$T/maillimitd-http
    if [ "$mode" = pages ] || [ "$mode" = browse ]; then
        nice -n "$PAGE_NICE" python3 "$T/pages.py" "$HPORT" "$T/views.$mode.$2" \
            "$([ "$mode" = browse ] && echo 0.1 || echo 0)" &
        LOADER=$!
    fi
    "$BENCH" --maillimitd "$server" --seconds "$SECONDS_PER" --repeat 1 \
        --conns "$CONNS" > "$T/$mode.$2.out" 2>&1
    local rc=$?
    if [ -n "$LOADER" ]; then
        kill "$LOADER" 2>/dev/null
        wait "$LOADER" 2>/dev/null
        LOADER=
    fi
    [ $rc = 0 ] || { cat "$T/$mode.$2.out"; echo "bench_policy failed ($mode)"; exit 1; }
}
# the modes alternate, round after round: load drifting on a shared machine falls on all three
for r in $(seq "$ROUNDS"); do
    for mode in off idle browse pages; do
        run $mode "$r"
    done
done

python3 - "$T" "$ROUNDS" "$SECONDS_PER" <<'PY'
import glob, statistics, sys
t, rounds, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("policy load with and without page views: bench_policy, %s s per point; medians of %d "
      "rounds (off, idle, browse, pages alternating)" % (secs, rounds))
print("%-6s %6s %12s %9s %9s %9s %14s %17s" % ("mode", "conns", "requests/s", "p50 us",
      "p99 us", "max us", "of do-nothing", "do-nothing p99 us"))
for mode in ("off", "idle", "browse", "pages"):
    rows = {}
    for f in glob.glob("%s/%s.*.out" % (t, mode)):
        for line in open(f):
            w = line.split()
            if w and w[0] in ("maillimitd", "do-nothing") and len(w) >= 7:
                rows.setdefault((w[0], int(w[1])), []).append([float(x) for x in w[2:6]])
            elif w and w[0] == "ratio" and len(w) >= 3:
                rows.setdefault(("ratio", int(w[1])), []).append(float(w[2].rstrip("%")))
    for conns in sorted(k[1] for k in rows if k[0] == "maillimitd"):
        v = rows[("maillimitd", conns)]
        med = [statistics.median(x[i] for x in v) for i in range(4)]
        ratio = statistics.median(rows.get(("ratio", conns), [0]))
        dn = statistics.median(x[2] for x in rows.get(("do-nothing", conns), [[0, 0, 0, 0]]))
        print("%-6s %6d %12.0f %9.1f %9.1f %9.0f %13.1f%% %17.1f" % (mode, conns, med[0],
              med[1], med[2], med[3], ratio, dn))
for mode in ("browse", "pages"):
    n = s = 0
    for f in glob.glob("%s/views.%s.*" % (t, mode)):
        a, b = open(f).read().split()
        n, s = n + int(a), s + float(b)
    if n == 0:
        print("page client (%s): no page fetched" % mode)
        sys.exit(1)
    print("page client (%s): %d pages in %.1f s of load (%.0f pages/s)" % (mode, n, s,
                                                                           n / max(s, 0.001)))
PY

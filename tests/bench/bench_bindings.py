#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_bindings (Python part): decide() calls per second through the ctypes binding.

Same workload as bench_bindings.c (see there). Two figures:
  Limiter.decide   the binding as a panel uses it (argument checks, verdict_init, decide,
                   the Verdict dataclass);
  raw ctypes       maillimit_verdict_init + maillimit_decide through the declared ctypes
                   functions with prebuilt arguments: the floor ctypes itself costs.

  MAILLIMIT_LIBRARY=build/libmaillimit/libmaillimit.so PYTHONPATH=bindings/python \\
      python3 tests/bench/bench_bindings.py [CALLS]
"""
import sys
import time
from ctypes import byref

from maillimit import Level, Limiter
from maillimit._native import VerdictC, lib

MAILBOXES = 100
START = 1704103200


def report(what, calls, seconds):
    print(f"Python  {what:<25} {calls:9d} calls {seconds:7.3f} s {calls / seconds:12.0f} calls/s "
          f"{seconds / calls * 1e9:8.1f} ns/call")


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    with Limiter() as ml:
        ml.subscription_add("bench")
        ml.domain_add("bench.example", "bench")
        names = [f"user{i}@bench.example" for i in range(MAILBOXES)]
        for n in names:
            ml.mailbox_add(n)

        decide = ml.decide
        mailbox = Level.MAILBOX
        t0 = time.perf_counter()
        allowed = 0
        for i in range(calls):
            if decide(mailbox, names[i % MAILBOXES], 1, START + i // 1000).allowed:
                allowed += 1
        report("Limiter.decide", calls, time.perf_counter() - t0)
        assert allowed == calls, allowed

        raw = [n.encode() for n in names]
        h = ml._h
        v = VerdictC()
        ref = byref(v)
        init, raw_decide = lib.maillimit_verdict_init, lib.maillimit_decide
        t0 = time.perf_counter()
        for i in range(calls):
            init(ref)
            if raw_decide(h, 4, raw[i % MAILBOXES], 1, START + i // 1000, ref) != 0:
                raise SystemExit("decide failed")
        report("raw ctypes", calls, time.perf_counter() - t0)


if __name__ == "__main__":
    main()

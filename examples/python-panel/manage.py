#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A control panel managing a running maillimitd, in Python: copy what you need.

1. create a subscription with two domains and four mailboxes, and its default limits;
2. (traffic: here the daemon's `decide`, at explicit times; in production Postfix sends it)
3. list the subscription's mailboxes with their status: one request per page;
4. raise the limit of a domain whose mailboxes are blocked;
5. reset a blocked mailbox;
6. show the subscription's hourly history for the day.

Run it against maillimitd's admin socket, or in process with the same code:

    python3 examples/python-panel/manage.py --socket /var/lib/maillimit/maillimitd.sock
    MAILLIMIT_LIBRARY=build/libmaillimit/libmaillimit.so PYTHONPATH=bindings/python \\
        python3 examples/python-panel/manage.py --in-process

The panel is written against maillimit.MaillimitAPI; only the constructor differs. A real
panel passes now=0 (the clock); the times here are explicit (a day in 2030) so that the
output is the same on every run.
"""
import argparse
import time

from maillimit import (DEFAULT, UNLIMITED, Client, Level, Limiter, MaillimitAPI,
                       NotFound, Window)

DAY = 1893920400 // 86400 * 86400  # 2030-01-07 00:00:00 UTC
T = DAY + 9 * 3600                 # 09:00
M, D, S = Level.MAILBOX, Level.DOMAIN, Level.SUBSCRIPTION
HOUR = Window.HOUR


def clock(t):
    return time.strftime("%H:%M", time.gmtime(t))


def amount(v):
    return "unlimited" if v == UNLIMITED else str(v)


def create(ml: MaillimitAPI):
    ml.subscription_add("globex")
    ml.domain_add("globex.example", "globex")
    ml.domain_add("globex-shop.example", "globex")
    for address in ("ceo@globex.example", "info@globex.example", "sales@globex.example",
                    "orders@globex-shop.example"):
        ml.mailbox_add(address)
    ml.limit_set(S, "globex", M, HOUR, 10)           # every mailbox: 10 per hour
    ml.limit_set(S, "globex", S, HOUR, 100)          # the subscription: 100 per hour
    ml.limit_set(D, "globex-shop.example", D, HOUR, 4)
    ml.limit_set(M, "ceo@globex.example", M, HOUR, 30)


def traffic(ml: MaillimitAPI, sender, n, start, step=60):
    denied = 0
    for i in range(n):
        denied += ml.decide(M, sender, 1, start + i * step).denied
    return denied


def show_mailboxes(ml: MaillimitAPI, now, title):
    print(f"{title} ({clock(now)}):")
    page = ml.list_page(M, S, "globex", offset=0, count=50, window=HOUR, now=now)
    print(f"  {page.total} mailboxes")
    for e in page.entities:
        st = e.status
        state = "Sending" if st.sending else f"Not sending ({st.blocked_by.name.lower()} limit)"
        own = e.limits[M, HOUR]
        shown = f"Default ({amount(st.limit)})" if own == DEFAULT else amount(own)
        print(f"  {e.name:28} {state:28} {st.count:3} sent   limit {shown:14} "
              f"reset in {st.reset_after} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", help="maillimitd's admin socket")
    ap.add_argument("--in-process", action="store_true", help="use the library in process")
    args = ap.parse_args()
    ml: MaillimitAPI = Limiter() if args.in_process else Client(args.socket)
    with ml:
        create(ml)
        print("Created subscription globex:",
              ", ".join(e.name for e in ml.list(D, S, "globex")))

        # traffic (Postfix does this in production)
        denied = traffic(ml, "ceo@globex.example", 12, DAY + 8 * 3600 + 1200)
        denied += traffic(ml, "sales@globex.example", 14, T + 300)
        denied += traffic(ml, "orders@globex-shop.example", 6, T + 600)
        denied += traffic(ml, "info@globex.example", 3, T + 900)
        print(f"Traffic 08:20-09:17: {denied} messages refused")
        print()
        now = T + 1200
        show_mailboxes(ml, now, "Mailboxes of globex")

        # the shop's mailboxes are blocked by their domain: raise its limit
        print()
        ml.limit_set(D, "globex-shop.example", D, HOUR, 8)
        st = ml.status(M, "orders@globex-shop.example", HOUR, now)
        limit = ml.limit_effective(D, 'globex-shop.example')
        print(f"Raised globex-shop.example to {limit} per hour:"
              f" orders@globex-shop.example is {'sending' if st.sending else 'not sending'}")

        # sales@ reached its own limit: unblock it
        ml.reset(M, "sales@globex.example")
        st = ml.status(M, "sales@globex.example", HOUR, now)
        print(f"Reset sales@globex.example: {'sending' if st.sending else 'not sending'}, "
              f"{st.remaining} left this hour")
        print()
        show_mailboxes(ml, now, "Mailboxes of globex after the changes")

        print()
        print("Today's history of globex (sent / denied per hour):")
        for row in ml.history(S, "globex", DAY, DAY + 86400, now):
            print(f"  {clock(row.hour_start)}  {row.sent:4} {row.denied:4}")
        statuses = ml.status_many([(D, "globex.example"), (D, "globex-shop.example"),
                                   (S, "globex")], HOUR, now)
        print("This hour: " + ", ".join(
            f"{n} {s.count}/{amount(s.limit)}"
            for n, s in zip(("globex.example", "globex-shop.example", "globex"), statuses)))
        try:
            ml.reset(M, "nosuch@globex.example")
        except NotFound as e:
            print(f"Reset of an unknown mailbox: {type(e).__name__}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A control panel's use of libmaillimit, in Python: copy what you need.

1. build the hierarchy: plans, subscriptions, domains, mailboxes, a system user;
2. set limits at plan, subscription, domain and mailbox level (and show them as a panel
   does: "Default (20)" when inherited, "30" when set);
3. simulate two hours of traffic with explicit times, including a mailbox whose password
   was stolen at 10:20 and that then tries to send 5 messages a minute;
4. print the top senders, that mailbox's episodes ("attempts to send after reaching the
   limit"), statuses, the summary and the notification events.

Run:  MAILLIMIT_LIBRARY=build/libmaillimit/libmaillimit.so \\
      PYTHONPATH=bindings/python python3 examples/python-panel/panel.py

A real panel passes now=0 (the system clock) and calls decide() from its MTA integration;
the times here are explicit so that the output is the same on every run.
"""
import time

from maillimit import DEFAULT, UNLIMITED, Flag, Level, Limiter, Metric, Window

START = 1704103200  # 2024-01-01 10:00:00 UTC
MINUTE = 60
HOUR = 3600


def clock(t):
    return time.strftime("%H:%M", time.gmtime(t)) if t >= 0 else "-"


def amount(v):
    return "unlimited" if v == UNLIMITED else str(v)


def shown_limit(ml, level, name, target):
    """A limit as a panel shows it: the value set there, or "Default (effective)"."""
    value = ml.limit_configured(level, name, target, Window.HOUR)
    if value == DEFAULT:
        return f"Default ({amount(ml.limit_effective(target, name, Window.HOUR))})"
    return amount(value)


def build(ml):
    ml.plan_add("basic")
    ml.plan_add("pro")
    ml.subscription_add("acme", "basic")
    ml.subscription_add("globex", "pro")
    ml.domain_add("acme.example", "acme")
    ml.domain_add("acme-shop.example", "acme")
    ml.domain_add("globex.example", "globex")
    for address in ("ceo@acme.example", "sales@acme.example", "news@acme.example",
                    "orders@acme-shop.example", "info@globex.example"):
        ml.mailbox_add(address)
    ml.sysuser_add("acme_web", "acme")

    H = Window.HOUR
    ml.limit_set(Level.SERVER, None, Level.MAILBOX, H, 100)             # server defaults
    ml.limit_set(Level.SERVER, None, Level.SUBSCRIPTION, H, 1000)
    ml.limit_set(Level.PLAN, "basic", Level.MAILBOX, H, 20)             # plan
    ml.limit_set(Level.PLAN, "basic", Level.SUBSCRIPTION, H, 150)
    ml.limit_set(Level.SUBSCRIPTION, "acme", Level.DOMAIN, H, 120)      # subscription
    ml.limit_set(Level.DOMAIN, "acme-shop.example", Level.MAILBOX, H, 5)  # domain
    ml.limit_set(Level.MAILBOX, "ceo@acme.example", Level.MAILBOX, H, 30)  # mailbox
    ml.limit_set(Level.MAILBOX, "ceo@acme.example", Level.MAILBOX, Window.DAY, 200)
    ml.flag_set(Level.MAILBOX, "news@acme.example", Flag.EXEMPT, True)  # newsletters


def traffic(ml):
    """Two hours from 10:00: steady mail, a newsletter, script mail, and from 10:20 the
    stolen sales@ password at 5 messages a minute."""
    denied = {}
    for minute in range(120):
        now = START + minute * MINUTE
        senders = [(Level.MAILBOX, "ceo@acme.example", 1)] if minute % 3 == 0 else []
        if minute % 10 == 0:
            senders.append((Level.MAILBOX, "info@globex.example", 1))
            senders.append((Level.MAILBOX, "orders@acme-shop.example", 1))
            senders.append((Level.DOMAIN, "acme-shop.example", 1))     # the shop's PHP mail()
        if minute % 15 == 0:
            senders.append((Level.SUBSCRIPTION, "acme_web", 1))        # a cron job
        if minute == 5:
            senders.append((Level.MAILBOX, "news@acme.example", 500))  # exempt
        if 20 <= minute < 50:
            senders += [(Level.MAILBOX, "sales@acme.example", 1)] * 5  # the spammer
        for level, sender, cost in senders:
            v = ml.decide(level, sender, cost, now)
            if v.denied:
                denied[sender] = denied.get(sender, 0) + cost
    return denied


def report(ml, denied):
    end = START + 2 * HOUR
    print("Limits as the panel shows them (per hour):")
    for level, name in ((Level.MAILBOX, "ceo@acme.example"), (Level.MAILBOX, "sales@acme.example"),
                        (Level.MAILBOX, "orders@acme-shop.example"),
                        (Level.MAILBOX, "info@globex.example")):
        print(f"  {name:<26} mailbox limit {shown_limit(ml, level, name, Level.MAILBOX)}")
    for name in ("acme.example", "acme-shop.example"):
        print(f"  {name:<26} domain limit  {shown_limit(ml, Level.DOMAIN, name, Level.DOMAIN)}")
    print()
    print("Denied during the simulation:")
    for sender in sorted(denied):
        print(f"  {sender:<26} {denied[sender]}")
    print()
    print("Top senders 10:00-12:00 (sent / denied / exempt):")
    for row in ml.top(Level.MAILBOX, Metric.SENT, START, end, 5, now=end):
        print(f"  {row.name:<26} {row.sent:>5} {row.denied:>5} {row.exempt:>5}")
    print("Top denied, subscription acme only:")
    for row in ml.top(Level.MAILBOX, Metric.DENIED, START, end, 3, Level.SUBSCRIPTION, "acme",
                      now=end):
        print(f"  {row.name:<26} {row.denied:>5}")
    print()
    print("History of sales@acme.example (sent / denied per hour):")
    for row in ml.history(Level.MAILBOX, "sales@acme.example", START, end, end):
        print(f"  {clock(row.hour_start)} {row.sent:>5} {row.denied:>5}")
    print("Episodes of sales@acme.example (over its limit):")
    for ep in ml.episodes(Level.MAILBOX, "sales@acme.example", START, end, end):
        back = "ongoing" if ep.ongoing else f"back to normal {clock(ep.ended)}"
        print(f"  {clock(ep.started)} reached {ep.limit}/{ep.window.name.lower()}, "
              f"{ep.denied} denied, {back}")
    print()
    print("Status at 12:00:")
    for level, name in ((Level.MAILBOX, "sales@acme.example"), (Level.DOMAIN, "acme.example"),
                        (Level.SUBSCRIPTION, "acme"), (Level.SERVER, None)):
        s = ml.status(level, name, Window.HOUR, end)
        print(f"  {level.name.lower():<12} {name or '(server)':<20} "
              f"{'Sending' if s.sending else 'Not sending':<11} {s.count:>4} of "
              f"{amount(s.limit):<9} reset in {s.reset_after} s")
    s = ml.summary(Level.SERVER, None, START, end, end)
    print()
    print(f"Summary: {s.sent} sent, {s.denied} denied, {s.exempt} exempt, "
          f"{s.unattributed} unattributed, {s.limited_entities} entities reached a limit")
    print("Notifications:")
    for ev in ml.events(end):
        print(f"  #{ev.seq} {clock(ev.time)} {ev.type.name:<14} {ev.level.name.lower()} "
              f"{ev.name} (limit {ev.limit}/{ev.window.name.lower()}, {ev.denied} denied)")


def main():
    with Limiter() as ml:
        build(ml)
        denied = traffic(ml)
        report(ml, denied)


if __name__ == "__main__":
    main()

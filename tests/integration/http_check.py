#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks of maillimitd's pages in a real browser, for tests/integration/http.sh.

    http_check.py pages   --port P --chromium PATH --shots DIR --day DAY0 --now T --odd FILE
    http_check.py metrics --port P --promtool PATH --out FILE --admin-calls N --odd-count K
    http_check.py auth    --port P --token TOKEN

pages: headless Chromium takes screenshots of the General page, an entity page and a list
(desktop and phone sizes) into DIR and dumps their DOM; the DOM must hold the figures of the
history http.sh made (hand-computed below), the chart must be 24 bars whose heights follow
the hourly counts, and the screenshot must show those bars at those heights. Odd names (FILE,
one per line) must come out of the browser's DOM exactly as they went in, and their links
must lead to their pages.

Only the standard library: html.parser for the DOM, zlib for the PNG.
"""
import argparse
import base64
import datetime
import html.parser
import json
import os
import struct
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib

# The history of http.sh (and of tests/unit/test_http_page.c): ceo@acme.example on day D.
HOURLY = [0, 0, 1, 0, 2, 5, 8, 12, 20, 25, 30, 30, 28, 22, 18, 15, 12, 9, 6, 4, 3, 2, 1, 0]
DENIED = {10: 7, 11: 4}
PLOT = 200  # plot height of the chart (http_page.c)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def chart_top(m):
    if m <= 1:
        return 1
    p = 1
    while True:
        for k in (1, 2, 5):
            if m <= k * p:
                return k * p
        p *= 10


def bar_h(v, top):
    return (v * PLOT + top // 2) // top


# ---- a small DOM ---------------------------------------------------------------------------

VOID = {"meta", "input", "br", "img", "link", "hr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def walk(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.walk()

    def find_all(self, tag=None, cls=None, **attrs):
        out = []
        for n in self.walk():
            if tag and n.tag != tag:
                continue
            if cls and cls not in n.classes():
                continue
            if any(n.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(n)
        return out

    def find(self, *a, **k):
        r = self.find_all(*a, **k)
        return r[0] if r else None


class Builder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(text):
    b = Builder()
    b.feed(text)
    b.close()
    return b.root


# ---- the browser -----------------------------------------------------------------------------

class Browser:
    def __init__(self, path, profile):
        self.path, self.profile = path, profile

    def run(self, url, *flags):
        cmd = [self.path, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
               "--user-data-dir=" + self.profile] + list(flags) + [url]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
        if r.returncode != 0:
            fail("chromium %s exited %d: %s" % (url, r.returncode, r.stderr[-2000:]))
        return r.stdout.decode("utf-8", "replace")

    def dom(self, url):
        text = self.run(url, "--dump-dom")
        check("<html" in text, "chromium dumped no DOM for " + url)
        return text

    def screenshot(self, url, path, w, h):
        if os.path.exists(path):
            os.unlink(path)
        self.run(url, "--window-size=%d,%d" % (w, h), "--screenshot=" + path)
        check(os.path.getsize(path) > 1000, "no screenshot of " + url)


# ---- PNG ---------------------------------------------------------------------------------------

def png_pixels(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", path + " is not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            check(depth == 8 and ctype in (2, 6) and interlace == 0,
                  "unexpected PNG format %d/%d/%d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ft, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def near(p, q, tol=10):
    return all(abs(a - b) <= tol for a, b in zip(p, q))


SENT_RGB, DENIED_RGB = (0x2e, 0x7d, 0x32), (0xc6, 0x28, 0x28)


def runs(column, rgb):
    """Runs of pixels near rgb in a column: [(top, length)], top to bottom."""
    out, y = [], 0
    while y < len(column):
        if near(column[y], rgb):
            start = y
            while y < len(column) and near(column[y], rgb):
                y += 1
            out.append((start, y - start))
        y += 1
    return out


def bars_in_screenshot(path):
    """The bars drawn: [(x_middle, sent_px, denied_px)] left to right. A bar is a run of
    columns at least 12 px wide (bars are 20, the legend's squares 10) holding the sent
    colour; its height is the longest sent run of its middle column, and its refused part
    the denied run standing on top of that (within a pixel of antialiasing)."""
    w, h, rows = png_pixels(path)
    has_sent = [any(near(rows[y][x], SENT_RGB) for y in range(h)) for x in range(w)]
    bars, x = [], 0
    while x < w:
        if has_sent[x]:
            start = x
            while x < w and has_sent[x]:
                x += 1
            if x - start >= 12:
                mid = (start + x) // 2
                col = [rows[y][mid] for y in range(h)]
                top, sent = max(runs(col, SENT_RGB), key=lambda r: r[1])
                denied = 0
                for dtop, dlen in runs(col, DENIED_RGB):
                    if 0 <= top - (dtop + dlen) <= 1:
                        denied = dlen
                bars.append((mid, sent, denied))
        x += 1
    return bars


# ---- pages -------------------------------------------------------------------------------------

def cmd_pages(a):
    base = "http://127.0.0.1:%d/" % a.port
    os.makedirs(a.shots, exist_ok=True)
    br = Browser(a.chromium, os.path.join(os.path.dirname(a.odd), "chrome"))
    day = datetime.datetime.fromtimestamp(a.day, datetime.timezone.utc).strftime("%Y-%m-%d")
    retry_at = a.now // 60 * 60 + 3600  # the minute of the decisions leaves the window

    # General: the last 24 hours hold today's decisions only (the day of history is older)
    url = base
    br.screenshot(url, os.path.join(a.shots, "general.png"), 1280, 1700)
    br.screenshot(url, os.path.join(a.shots, "general-phone.png"), 390, 1600)
    d = parse(br.dom(url))
    totals = d.find("div", cls="totals")
    check(totals is not None, "General: no totals")

    def card(cls):
        n = totals.find("div", cls=cls)
        return n.text().strip() if n else None
    # ceo 30, beta.example 5, ok@acme.example 3 (policy); refused: ceo 1, beta.example 2,
    # info@beta.example 1, spam@beta.example 20 (policy); news@acme.example 3 exempt
    for cls, want in (("sent", "38"), ("denied", "24"), ("exempt", "3"), ("unattributed", "0"),
                      ("limited", "2")):
        check(card(cls) == want, "General: %s is %r, not %s" % (cls, card(cls), want))
    rows = d.find_all("tr", cls="episode")
    check(len(rows) == 2, "General: %d episodes, not 2" % len(rows))
    check([r.attrs.get("data-level") for r in rows] == ["domain", "mailbox"],
          "General: episodes in the wrong order")
    want = [("beta.example", "23"), ("ceo@acme.example", "1")]
    for r, (name, denied) in zip(rows, want):
        check(r.find("a").text() == name, "General: episode of %r" % r.find("a").text())
        check(r.find("td", cls="denied").text() == denied, "General: %s refused %s" %
              (name, r.find("td", cls="denied").text()))
        check(r.find("td", cls="started").find("time").attrs["datetime"] == iso(a.now),
              "General: %s reached its limit at the wrong time" % name)
        ended = r.find("td", cls="ended")
        check("Not sending" in ended.text() and
              ended.find("time").attrs["datetime"] == iso(retry_at),
              "General: %s back to normal: %r" % (name, ended.text()))
    check(len(d.find_all("script")) == 0, "General: a script element")
    print("General page: totals and who reached a limit: ok")

    # the entity page of the blocked mailbox, on the day of its history
    url = base + "mailbox/ceo@acme.example?day=" + day
    shot = os.path.join(a.shots, "entity.png")
    br.screenshot(url, shot, 1280, 1400)
    d = parse(br.dom(url))
    h1 = d.find("h1", cls="entity")
    check(h1 is not None and h1.text() == "ceo@acme.example", "entity: h1")
    st = d.find("div", cls="status")
    check(st.attrs.get("data-sending") == "0", "entity: not shown as not sending")
    check("Not sending" in st.text(), "entity: no Not sending")
    t = st.find("span", cls="retry").find("time")
    check(t.attrs["datetime"] == iso(retry_at),
          "entity: retry at %s, not %s" % (t.attrs["datetime"], iso(retry_at)))
    check(d.find("div", cls="count-hour").text() == "30 / 30", "entity: hourly count")
    svg = d.find("svg", cls="hours")
    bars = svg.find_all("g", cls="bar")
    check(len(bars) == 24, "entity: %d bars, not 24" % len(bars))
    top = chart_top(max(s + DENIED.get(h, 0) for h, s in enumerate(HOURLY)))
    check(svg.attrs.get("data-top") == str(top), "entity: chart top %s" % svg.attrs.get("data-top"))
    for hbar, g in enumerate(bars):
        s, dn = HOURLY[hbar], DENIED.get(hbar, 0)
        check(g.attrs["data-hour"] == str(hbar) and g.attrs["data-sent"] == str(s) and
              g.attrs["data-denied"] == str(dn), "entity: bar %d is %r" % (hbar, g.attrs))
        rs, rd = g.find("rect", cls="sent"), g.find("rect", cls="denied")
        hs, ht = bar_h(s, top), bar_h(s + dn, top)
        check(rs.attrs["height"] == str(hs) and rd.attrs["height"] == str(ht - hs),
              "entity: bar %d heights %s+%s, not %d+%d" % (hbar, rs.attrs["height"],
                                                          rd.attrs["height"], hs, ht - hs))
        check(int(rs.attrs["y"]) + hs == 220 and int(rd.attrs["y"]) + ht - hs == 220 - hs,
              "entity: bar %d not standing on the axis" % hbar)
    eps = d.find_all("tr", cls="episode")
    # today's (ongoing), then the day's two: 10:02-11:01 (7 refused), 11:02-12:01 (4)
    check([e.find("td", cls="denied").text() for e in eps] == ["1", "4", "7"],
          "entity: episodes %r" % [e.text() for e in eps])
    check(eps[1].find("td", cls="started").find("time").attrs["datetime"] ==
          iso(a.day + 11 * 3600 + 120) and
          eps[1].find("td", cls="ended").find("time").attrs["datetime"] ==
          iso(a.day + 12 * 3600 + 60), "entity: the second episode's times")
    print("entity page: status, retry time, 24 bars, episodes: ok")

    # the browser drew the bars: their heights in the screenshot are the SVG's (scale 1)
    drawn = bars_in_screenshot(shot)
    want = [(h, bar_h(HOURLY[h], top), bar_h(HOURLY[h] + DENIED.get(h, 0), top) -
             bar_h(HOURLY[h], top)) for h in range(24) if HOURLY[h]]
    check(len(drawn) == len(want), "screenshot: %d bars drawn, not %d" % (len(drawn), len(want)))
    for (x, s, dn), (hour, ws, wd) in zip(drawn, want):
        check(abs(s - ws) <= 1 and abs(dn - wd) <= 1,
              "screenshot: hour %d drawn %d+%d px high, not %d+%d" % (hour, s, dn, ws, wd))
    gaps = [drawn[i + 1][0] - drawn[i][0] for i in range(len(drawn) - 1)]
    check(all(g % 28 in (0, 1, 27) for g in gaps), "screenshot: bars not 28 px apart: %r" % gaps)
    print("screenshot: %d bars drawn at the heights of the counts: ok" % len(drawn))

    # the list: the implicit mailbox blocked by its domain
    url = base + "mailboxes?sort=status"
    br.screenshot(url, os.path.join(a.shots, "mailboxes.png"), 1280, 900)
    d = parse(br.dom(url))
    rows = {r.attrs["data-name"]: r for r in d.find_all("tr", cls="entity")}
    info = rows.get("info@beta.example")
    check(info is not None, "list: no info@beta.example")
    check(info.attrs["data-sending"] == "0" and "Not sending" in info.text() and
          "by its domain" in info.text() and "not configured" in info.text(),
          "list: info@beta.example: %r" % info.text())
    check(info.find("td", cls="retry").find("time").attrs["datetime"] == iso(retry_at),
          "list: info@beta.example retry time")
    check(rows["news@acme.example"].attrs["data-sending"] == "1", "list: news@acme.example")
    print("list: Not sending with its retry time: ok")

    # a subscription's own view shows nothing of another
    d = parse(br.dom(base + "subscription/beta/"))
    check("acme" not in d.text(), "the view of subscription beta shows acme")
    check(d.find("h1").text() == "beta", "the view of subscription beta")
    print("subscription view: ok")

    # odd names: through the browser's DOM exactly, and their links lead to their pages
    names = [n for n in open(a.odd, encoding="utf-8").read().split("\n") if n]
    url = base + "mailboxes?domain=odd.example"
    raw = br.dom(url)
    d = parse(raw)
    check("<script" not in raw.lower(), "odd names: a script element in the DOM")
    rows = d.find_all("tr", cls="entity")
    got = sorted(r.attrs["data-name"] for r in rows)
    check(got == sorted(names), "odd names: the list shows %r" % got)
    for r in rows:
        link = r.find("a", cls="name")
        check(link.text() == r.attrs["data-name"], "odd names: link text %r" % link.text())
        target = urllib.parse.urljoin(url, link.attrs["href"])
        page = urllib.request.urlopen(target, timeout=10).read().decode("utf-8")
        check(parse(page).find("h1", cls="entity").text() == r.attrs["data-name"],
              "odd names: %s does not lead to its page" % target)
    print("odd names (%d): escaped, shown and linked exactly: ok" % len(names))


# ---- metrics -----------------------------------------------------------------------------------

def cmd_metrics(a):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % a.port, timeout=10).read()
    open(a.out, "wb").write(text)
    r = subprocess.run([a.promtool, "check", "metrics"], input=text, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    check(r.returncode == 0 and not r.stdout.strip(),
          "promtool check metrics: %s" % r.stdout.decode())
    print("promtool check metrics: ok")
    values = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            values[k] = v
    want = {
        'maillimit_policy_requests_total{result="allow"}': "3",
        'maillimit_policy_requests_total{result="deny"}': "20",
        'maillimit_policy_requests_total{result="pass"}': "0",
        'maillimit_decisions_total{protocol="policy",result="allow",level="mailbox"}': "3",
        'maillimit_decisions_total{protocol="policy",result="deny",level="mailbox"}': "20",
        'maillimit_denials_total{protocol="policy",level="domain",window="hour",reason="limit"}':
            "20",
        'maillimit_denials_total{protocol="policy",level="mailbox",window="hour",reason="limit"}':
            "0",
        'maillimit_request_duration_seconds_count{protocol="policy"}': "23",
        'maillimit_request_duration_seconds_bucket{protocol="policy",le="+Inf"}': "23",
        'maillimit_connections_accepted_total{protocol="policy"}': "1",
        'maillimit_connections_accepted_total{protocol="admin"}': str(a.admin_calls),
        'maillimit_admin_requests_total': str(a.admin_calls),
        'maillimit_log_denial_lines_suppressed_total': "19",
        'maillimit_limits_enabled': "1",
        'maillimit_entities{level="plan"}': "1",
        'maillimit_entities{level="subscription"}': "2",
        'maillimit_entities{level="domain"}': "3",
        'maillimit_entities{level="mailbox"}': str(2 + a.odd_count),
        'maillimit_implicit_mailboxes': "3",
        'maillimit_episodes_open{level="mailbox"}': "1",
        'maillimit_episodes_open{level="domain"}': "1",
        'maillimit_episodes_open{level="subscription"}': "0",
        'maillimit_events_dropped_total': "0",
        'maillimit_snapshot_saves_total{result="success"}': "0",
        'maillimit_reloads_total{result="success"}': "0",
    }
    for k, v in want.items():
        check(values.get(k) == v, "metrics: %s is %s, not %s" % (k, values.get(k), v))
    check(int(values['maillimit_http_requests_total{code="200"}']) >= 10,
          "metrics: pages not counted")
    print("metrics: the exact counts: ok")


# ---- authorisation -----------------------------------------------------------------------------

def status(url, auth=None):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", auth)
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code


def cmd_auth(a):
    base = "http://127.0.0.1:%d/" % a.port
    basic = "Basic " + base64.b64encode(b"admin:" + a.token.encode()).decode()
    for path in ("", "metrics", "mailboxes"):
        check(status(base + path) == 401, "/%s without the token" % path)
        check(status(base + path, "Bearer wrong-token-wrong-token") == 401, "/%s wrong" % path)
        check(status(base + path, "Bearer " + a.token) == 200, "/%s with the token" % path)
        check(status(base + path, basic) == 200, "/%s with Basic" % path)
    # bounds: other methods, a long header block
    req = urllib.request.Request(base, data=b"x=1", method="POST")
    req.add_header("Authorization", "Bearer " + a.token)
    try:
        urllib.request.urlopen(req, timeout=10)
        fail("POST answered")
    except urllib.error.HTTPError as e:
        check(e.code == 405, "POST: %d" % e.code)
    code = status(base, "Bearer " + a.token + "x" * 40000)
    check(code in (400, 413, 431), "a 40 kB header answered %d" % code)
    print("token (Bearer and Basic), 405, a header too long: ok")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["pages", "metrics", "auth"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--chromium")
    p.add_argument("--promtool")
    p.add_argument("--shots")
    p.add_argument("--day", type=int)
    p.add_argument("--now", type=int)
    p.add_argument("--odd")
    p.add_argument("--out")
    p.add_argument("--admin-calls", type=int)
    p.add_argument("--odd-count", type=int)
    p.add_argument("--token")
    a = p.parse_args()
    {"pages": cmd_pages, "metrics": cmd_metrics, "auth": cmd_auth}[a.what](a)


if __name__ == "__main__":
    main()

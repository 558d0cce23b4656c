/* SPDX-License-Identifier: MIT */
/* maillimitd's pages (libmaillimit/server/http_page.c, escape.c): escaping, the SVG chart,
 * the routing, the pages' figures on a handle with a known history, and odd names thrown
 * through every page (a property test with a fixed seed). */
#define _GNU_SOURCE

#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "maillimit.h"
#include "http.h"

static char *esc(void (*f)(maillimit__buf *, const char *), const char *s)
{
    static char out[4096];
    maillimit__buf b = { 0 };
    f(&b, s);
    snprintf(out, sizeof out, "%s", b.p ? b.p : "");
    maillimit__buf_free(&b);
    return out;
}

Test(http_page, html_escape)
{
    cr_assert_str_eq(esc(maillimit__html_esc, "<script>alert(\"x\")</script>"),
                     "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    cr_assert_str_eq(esc(maillimit__html_esc, "a'b&c"), "a&#39;b&amp;c");
    /* UTF-8 stays; bytes that are not UTF-8 are shown, never passed through */
    cr_assert_str_eq(esc(maillimit__html_esc, "j\xc3\xbcrgen@m\xc3\xbcller.example"),
                     "j\xc3\xbcrgen@m\xc3\xbcller.example");
    cr_assert_str_eq(esc(maillimit__html_esc, "\xf0\x9f\x93\xa7"), "\xf0\x9f\x93\xa7");
    cr_assert_str_eq(esc(maillimit__html_esc, "a\xff" "b"), "a\\xFFb");
    cr_assert_str_eq(esc(maillimit__html_esc, "\xc0\xaf"), "\\xC0\\xAF");       /* overlong */
    cr_assert_str_eq(esc(maillimit__html_esc, "\xed\xa0\x80"), "\\xED\\xA0\\x80"); /* surrogate */
    cr_assert_str_eq(esc(maillimit__html_esc, "\xe2\x82"), "\\xE2\\x82");      /* cut short */
    cr_assert_str_eq(esc(maillimit__html_esc, "tab\there"), "tab\\x09here");
    cr_assert_str_eq(esc(maillimit__html_esc, ""), "");
}

Test(http_page, url_escape_and_back)
{
    cr_assert_str_eq(esc(maillimit__url_esc, "joe@example.com"), "joe@example.com");
    cr_assert_str_eq(esc(maillimit__url_esc, "a/b%c?d#e+f\"g<h> i&j"),
                     "a%2Fb%25c%3Fd%23e%2Bf%22g%3Ch%3E%20i%26j");
    cr_assert_str_eq(esc(maillimit__url_esc, "\xc3\xbc~._-"), "%C3%BC~._-");
    char s[64];
    snprintf(s, sizeof s, "a%%2Fb%%25c%%3fd+e");
    cr_assert_eq(maillimit__url_unesc(s), 9);
    cr_assert_str_eq(s, "a/b%c?d+e");
    snprintf(s, sizeof s, "%%zz");
    cr_assert_eq(maillimit__url_unesc(s), -1);
    snprintf(s, sizeof s, "ab%%4");
    cr_assert_eq(maillimit__url_unesc(s), -1);
    snprintf(s, sizeof s, "a%%00b");
    cr_assert_eq(maillimit__url_unesc(s), -1, "a NUL byte is never part of a name");
    snprintf(s, sizeof s, "%%");
    cr_assert_eq(maillimit__url_unesc(s), -1);
}

Test(http_page, prometheus_label_escape)
{
    cr_assert_str_eq(esc(maillimit__prom_esc, "a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

Test(http_page, chart_top_is_1_2_or_5_times_a_power_of_ten)
{
    static const int64_t in[] = { 0, 1, 2, 3, 5, 6, 10, 11, 21, 49, 50, 51, 101, 999, 1001,
                                  250000 };
    static const int64_t want[] = { 1, 1, 2, 5, 5, 10, 10, 20, 50, 50, 50, 100, 200, 1000,
                                    2000, 500000 };
    for (size_t i = 0; i < sizeof in / sizeof *in; i++)
        cr_assert_eq(maillimit__chart_top(in[i]), want[i], "top of %lld", (long long)in[i]);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(http_page, chart_bars_follow_the_counts)
{
    int64_t sent[24] = { 0 }, denied[24] = { 0 };
    sent[3] = 1;
    sent[10] = 30;
    denied[10] = 7;
    sent[23] = 12;
    maillimit__buf b = { 0 };
    maillimit__chart_svg(&b, sent, denied, "a \"title\" <x>", "messages");
    cr_assert_not_null(b.p);
    /* the top: 37 -> 50; H(v) = floor((v * 200 + 25) / 50) */
    cr_assert(strstr(b.p, "aria-label=\"a &quot;title&quot; &lt;x&gt;\" data-top=\"50\""), "%s",
              b.p);
    cr_assert_eq(count(b.p, "<g class=\"bar\""), 24);
    cr_assert_eq(count(b.p, "<rect class=\"sent\""), 24);
    cr_assert_eq(count(b.p, "<rect class=\"denied\""), 24);
    /* hour 10: H(30) = 120, H(37) = 148 (148.5 floored): the denied part is 28 high */
    cr_assert(strstr(b.p, "<g class=\"bar\" data-hour=\"10\" data-sent=\"30\" data-denied=\"7\">"
                          "<title>10:00\xe2\x80\x93" "10:59: 30 sent, 7 refused</title>"
                          "<rect class=\"sent\" x=\"340\" y=\"100\" width=\"20\" height=\"120\" "
                          "fill=\"#2e7d32\"/><rect class=\"denied\" x=\"340\" y=\"72\" "
                          "width=\"20\" height=\"28\" fill=\"#c62828\"/></g>"), "%s", b.p);
    /* hour 3: H(1) = floor(225 / 50) = 4 */
    cr_assert(strstr(b.p, "<rect class=\"sent\" x=\"144\" y=\"216\" width=\"20\" height=\"4\" "));
    /* hour 23: H(12) = floor(2425 / 50) = 48 */
    cr_assert(strstr(b.p, "<rect class=\"sent\" x=\"704\" y=\"172\" width=\"20\" height=\"48\" "));
    /* an empty hour: both bars 0 high, at the base line */
    cr_assert(strstr(b.p,
                     "data-hour=\"0\" data-sent=\"0\" data-denied=\"0\"><title>00:00\xe2\x80\x93"
                          "00:59: 0 sent, 0 refused</title><rect class=\"sent\" x=\"60\" "
                          "y=\"220\" width=\"20\" height=\"0\" "));
    /* the scale: 0, 25 and 50 */
    cr_assert(strstr(b.p, "fill=\"#5b6673\">25</text>"));
    cr_assert(strstr(b.p, "fill=\"#5b6673\">50</text>"));
    maillimit__buf_free(&b);

    /* an empty day: top 1, every bar 0 high */
    memset(sent, 0, sizeof sent);
    memset(denied, 0, sizeof denied);
    maillimit__chart_svg(&b, sent, denied, "t", "recipients");
    cr_assert(strstr(b.p, "data-top=\"1\""));
    cr_assert_eq(count(b.p, "height=\"0\""), 48);
    cr_assert(strstr(b.p, ">recipients per hour</text>"));
    maillimit__buf_free(&b);
}

/* ---- pages on a handle ------------------------------------------------------------------ */

#define DAY0 1796428800LL /* 2026-12-05 00:00:00 UTC */

static maillimit *ml;
static maillimit__pages *pages;
static maillimit__http_resp resp;

/* The raw value of key in a query string "a=1&b=2" ('+' as a space, as libmicrohttpd does). */
static const char *query_arg(void *ud, const char *key)
{
    static char vals[8][2048]; /* distinct buffers: a page holds several values at once */
    static unsigned next;
    char *val = vals[next++ % 8];
    const char *q = ud;
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            snprintf(val, sizeof vals[0], "%.*s", (int)(n - kl - 1), p + kl + 1);
            for (char *x = val; *x; x++)
                if (*x == '+')
                    *x = ' ';
            return val;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* GET url ("path?query") at now; the page is in resp. */
static int get(const char *method, const char *url, int64_t now)
{
    char path[4096], query[2048] = "";
    snprintf(path, sizeof path, "%s", url);
    char *qm = strchr(path, '?');
    if (qm) {
        snprintf(query, sizeof query, "%s", qm + 1);
        *qm = '\0';
    }
    maillimit__buf_free(&resp.body);
    maillimit__http_req req = { method, path, query_arg, query };
    maillimit__pages_handle(pages, &req, now, &resp);
    return resp.status;
}

static const char *body(void)
{
    return resp.body.p ? resp.body.p : "";
}

static void decide(int level, const char *name, int64_t cost, int64_t now, int want)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    cr_assert_eq(maillimit_decide(ml, level, name, cost, now, &v), 0, "%s", name);
    cr_assert_eq(v.decision, want, "%s at %lld", name, (long long)now);
}

static const char conf[] =
    "server mailbox=100 domain=500 subscription=1000\n"
    "plan basic mailbox=50\n"
    "subscription acme plan=basic\n"
    "domain acme.example subscription=acme mailbox=20 domain=200\n"
    "mailbox ceo@acme.example mailbox=30\n"
    "mailbox news@acme.example exempt=yes\n"
    "subscription beta\n"
    "domain beta.example subscription=beta domain=5\n";

/* The history of the integration test (tests/integration/http.sh), at explicit times: on
 * 2026-12-05 ceo@acme.example sends hourly[h] messages at minute 1 of hour h, and is
 * refused 7 at 10:02 and 4 at 11:02; on 2026-12-06 at 09:30:20 (NOW0) it sends 30 and is
 * refused 1, beta.example sends 5 and is refused 2, info@beta.example (not configured) is
 * refused 1 (its domain is full), news@acme.example sends 3 exempt. */
static const int64_t hourly[24] = { 0, 0, 1, 0, 2, 5, 8, 12, 20, 25, 30, 30,
                                    28, 22, 18, 15, 12, 9, 6, 4, 3, 2, 1, 0 };
#define NOW0 (DAY0 + 86400 + 9 * 3600 + 30 * 60 + 20)

static void setup(void)
{
    cr_assert_eq(maillimit_new(&ml), 0);
    char err[256];
    cr_assert_eq(maillimit_config_load_mem(ml, conf, sizeof conf - 1, err, sizeof err), 0, "%s",
                 err);
    for (int h = 0; h < 24; h++) {
        if (hourly[h])
            decide(MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", hourly[h], DAY0 + h * 3600 + 60,
                   MAILLIMIT_ALLOW);
        if (h == 10)
            decide(MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", 7, DAY0 + h * 3600 + 120,
                   MAILLIMIT_DENY);
        if (h == 11)
            decide(MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", 4, DAY0 + h * 3600 + 120,
                   MAILLIMIT_DENY);
    }
    /* the day is history before the next one is counted */
    cr_assert_eq(maillimit_tick(ml, DAY0 + 86400 + 1800), 0);
    decide(MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", 30, NOW0, MAILLIMIT_ALLOW);
    decide(MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", 1, NOW0, MAILLIMIT_DENY);
    decide(MAILLIMIT_LEVEL_DOMAIN, "beta.example", 5, NOW0, MAILLIMIT_ALLOW);
    decide(MAILLIMIT_LEVEL_DOMAIN, "beta.example", 2, NOW0, MAILLIMIT_DENY);
    decide(MAILLIMIT_LEVEL_MAILBOX, "info@beta.example", 1, NOW0, MAILLIMIT_DENY);
    decide(MAILLIMIT_LEVEL_MAILBOX, "news@acme.example", 3, NOW0, MAILLIMIT_ALLOW);
    cr_assert_eq(maillimit__pages_new(&pages, ml, NULL, NULL), 0);
    memset(&resp, 0, sizeof resp);
}

static void teardown(void)
{
    maillimit__buf_free(&resp.body);
    maillimit__pages_free(pages);
    maillimit_free(ml);
}

TestSuite(http_pages, .init = setup, .fini = teardown);

#define HAS(s) cr_assert(strstr(body(), s), "missing %s", s)
#define HASNT(s) cr_assert(!strstr(body(), s), "unexpected %s", s)

Test(http_pages, general_totals_and_who_reached_a_limit)
{
    int64_t now = NOW0 + 40; /* 09:31:00 */
    cr_assert_eq(get("GET", "/", now), 200);
    cr_assert_str_eq(resp.ctype, "text/html; charset=utf-8");
    /* the last 24 hours: hours from 2026-12-05 10:00 */
    HAS("<div class=\"cards totals\" data-hours=\"24\">");
    /* 2026-12-05 10:00..23:59 sent 30+30+28+22+18+15+12+9+6+4+3+2+1 = 180, then 30 + 5 */
    HAS("<div class=\"v sent\">215</div>");
    /* refused: 7 + 4 on the 5th, 1 + 2 + 1 today */
    HAS("<div class=\"v denied\">15</div>");
    HAS("<div class=\"v exempt\">3</div>");
    HAS("<div class=\"v unattributed\">0</div>");
    /* ceo's two episodes of the 5th end at 11:01 and 12:01, inside the period; today ceo and
     * beta.example */
    HAS("<div class=\"v limited\">2</div>");
    HAS("Limits on outgoing mail are <b>switched on</b>");
    HAS("Default limits per hour: email address 100, domain 500, subscription 1000; the whole "
        "server unlimited per hour, unlimited per day.");
    /* ongoing first; among them the higher level (domain) first at the same start */
    const char *d = strstr(body(), "<tr class=\"episode ongoing\" data-level=\"domain\"><td>domain "
                                   "<a class=\"name\" href=\"./domain/beta.example\">beta.example"
                                   "</a></td><td data-label=\"Limit\">5 messages per hour</td>"
                                   "<td class=\"started\" data-label=\"Reached\"><time "
                                   "datetime=\"2026-12-06T09:30:20Z\">2026-12-06 09:30:20</time>"
                                   "</td><td class=\"ended\" data-label=\"Back to normal\"><span "
                                   "class=\"state no\">Not sending</span> until <time datetime="
                                   "\"2026-12-06T10:30:00Z\">2026-12-06 10:30:00</time></td>"
                                   "<td class=\"num denied\" data-label=\"Refused attempts\">3"
                                   "</td></tr>");
    cr_assert_not_null(d, "%s", body());
    const char *m = strstr(body(), "<tr class=\"episode ongoing\" data-level=\"mailbox\"><td>"
                                   "email address <a class=\"name\" href=\"./mailbox/"
                                   "ceo@acme.example\">ceo@acme.example</a></td><td data-label="
                                   "\"Limit\">30 messages per hour</td>");
    cr_assert_not_null(m);
    cr_assert(d < m);
    /* the 5th's episodes are before the period's... the second one ended at 12:01 on the 5th,
     * after 10:00: it is listed, the first one (ended 11:01) too */
    HAS("<time datetime=\"2026-12-05T11:02:00Z\">2026-12-05 11:02:00</time></td><td "
        "class=\"ended\" data-label=\"Back to normal\"><time datetime=\"2026-12-05T12:01:00Z\">"
        "2026-12-05 12:01:00</time></td><td class=\"num denied\" data-label=\"Refused "
        "attempts\">4</td>");
    HAS("<time datetime=\"2026-12-05T10:02:00Z\">2026-12-05 10:02:00</time></td><td "
        "class=\"ended\" data-label=\"Back to normal\"><time datetime=\"2026-12-05T11:01:00Z\">"
        "2026-12-05 11:01:00</time></td><td class=\"num denied\" data-label=\"Refused "
        "attempts\">7</td>");
    cr_assert_eq(count(body(), "<tr class=\"episode"), 4);
    /* top senders */
    HAS("<table class=\"top\" data-level=\"mailbox\"><tr><th>Email address</th><th class=\"num\">"
        "Sent</th><th class=\"num\">Refused</th><th class=\"num\">Exempt</th></tr><tr><td><a "
        "class=\"name\" href=\"./mailbox/ceo@acme.example\">ceo@acme.example</a></td><td "
        "class=\"num\">210</td><td class=\"num\">12</td><td class=\"num\">0</td></tr>");
    HAS("news@acme.example</a></td><td class=\"num\">0</td><td class=\"num\">0</td><td "
        "class=\"num\">3</td></tr>");
    /* today's chart: hour 9 has 30 + 5 sent and 1 + 2 + 1 refused */
    HAS("data-hour=\"9\" data-sent=\"35\" data-denied=\"4\"");
    cr_assert_eq(count(body(), "<g class=\"bar\""), 24);

    /* the last hour: only today's */
    cr_assert_eq(get("GET", "/?hours=1", now), 200);
    HAS("<div class=\"v sent\">35</div>");
    HAS("<div class=\"v denied\">4</div>");
    cr_assert_eq(count(body(), "<tr class=\"episode"), 2);
}

Test(http_pages, entity_page_of_a_blocked_mailbox)
{
    int64_t now = NOW0 + 40;
    cr_assert_eq(get("GET", "/mailbox/CEO@acme.example?day=2026-12-05", now), 200);
    HAS("<h1 class=\"entity\" data-level=\"mailbox\">ceo@acme.example</h1>");
    HAS("<div class=\"cards status\" data-sending=\"0\">");
    /* 30 sent at 09:30:20 leave the window at 10:30:00 */
    HAS("can send again: <span class=\"retry\"><time datetime=\"2026-12-06T10:30:00Z\">"
        "2026-12-06 10:30:00</time> <span class=\"note\">(in 59 min)</span></span>");
    HAS("<div class=\"v count-hour\">30 / 30</div>");
    /* the day window: hours from 2026-12-05 10:00 (180 sent) and today's 30 */
    HAS("<div class=\"v count-day\">210 / unlimited</div>");
    /* the chart of the 5th: 24 bars, the hourly counts, 7 and 4 refused */
    cr_assert_eq(count(body(), "<g class=\"bar\""), 24);
    for (int h = 0; h < 24; h++) {
        char want[120];
        snprintf(want, sizeof want, "data-hour=\"%d\" data-sent=\"%lld\" data-denied=\"%d\"", h,
                 (long long)hourly[h], h == 10 ? 7 : h == 11 ? 4 : 0);
        HAS(want);
    }
    /* top 37 -> 50: hour 10 is 30 sent (120) + 7 refused (148 - 120) */
    HAS("data-top=\"50\"");
    HAS("<rect class=\"sent\" x=\"340\" y=\"100\" width=\"20\" height=\"120\" fill=\"#2e7d32\"/>"
        "<rect class=\"denied\" x=\"340\" y=\"72\" width=\"20\" height=\"28\"");
    HAS("On 2026-12-05: <b class=\"sent\">253</b> sent, <b class=\"denied\">11</b> refused.");
    HAS("<a href=\"?day=2026-12-04#chart\">");
    HAS("<a href=\"?day=2026-12-06#chart\">");
    /* the hierarchy: relative links (one level down) */
    HAS("<a href=\"../\">Server</a> \xe2\x80\xba plan basic \xe2\x80\xba subscription <a "
        "class=\"name\" href=\"../subscription/acme\">acme</a> \xe2\x80\xba domain <a class=\"name\" "
        "href=\"../domain/acme.example\">acme.example</a> \xe2\x80\xba email address</p>");
    HAS("<td class=\"num\" data-target=\"mailbox\" data-window=\"hour\">30</td>");
    HAS("<td class=\"num\" data-target=\"mailbox\" data-window=\"day\">default (unlimited)</td>");
    cr_assert_eq(count(body(), "<tr class=\"episode"), 3);
    HASNT("not configured");

    /* info@beta.example: implicit, not sending because of its domain */
    cr_assert_eq(get("GET", "/mailbox/info@beta.example", now), 200);
    HAS("<span class=\"tag\">not configured: known from the mail it sent</span>");
    HAS("its domain is over its limit; can send again: <span class=\"retry\"><time "
        "datetime=\"2026-12-06T10:30:00Z\">");
    /* today's chart is the default day */
    HAS("Sent and refused per hour on 2026-12-06</h2>");
    HAS("data-hour=\"9\" data-sent=\"0\" data-denied=\"1\"");
}

Test(http_pages, lists_sort_page_and_filter)
{
    int64_t now = NOW0 + 40;
    cr_assert_eq(get("GET", "/mailboxes", now), 200);
    HAS("<span class=\"total\">3</span> email addresses");
    /* name order by default */
    const char *a = strstr(body(), "data-name=\"ceo@acme.example\" data-sending=\"0\"");
    const char *b = strstr(body(), "data-name=\"info@beta.example\" data-sending=\"0\"");
    const char *c = strstr(body(), "data-name=\"news@acme.example\" data-sending=\"1\"");
    cr_assert(a && b && c && a < b && b < c, "%s", body());
    HAS("<td class=\"num count\" data-label=\"Sent / limit\">30 / 30</td>");
    HAS("<td class=\"retry\" data-label=\"Can send again\"><time datetime=\"2026-12-06T10:30:00Z\">");
    /* by count, most first: ceo 30, then info 0 and news 0 (exempt mail is in no count) by name */
    cr_assert_eq(get("GET", "/mailboxes?sort=count", now), 200);
    a = strstr(body(), "data-name=\"ceo@acme.example\"");
    b = strstr(body(), "data-name=\"info@beta.example\"");
    c = strstr(body(), "data-name=\"news@acme.example\"");
    cr_assert(a && b && c && a < b && b < c);
    HAS("data-sort=\"count\" data-order=\"desc\"");
    /* by status, sending first (ascending) */
    cr_assert_eq(get("GET", "/mailboxes?sort=status&order=asc", now), 200);
    a = strstr(body(), "data-name=\"ceo@acme.example\"");
    c = strstr(body(), "data-name=\"news@acme.example\"");
    cr_assert(a && c && c < a);
    /* a filter and a domain */
    cr_assert_eq(get("GET", "/mailboxes?q=acme", now), 200);
    HAS("<span class=\"total\">2</span> email addresses");
    cr_assert_eq(get("GET", "/mailboxes?domain=beta.example", now), 200);
    HAS("<span class=\"total\">1</span> email address of domain");
    cr_assert_eq(get("GET", "/mailboxes?domain=nowhere.example", now), 404);
    cr_assert_eq(get("GET", "/domains?sort=retry", now), 200);
    HAS("<span class=\"total\">2</span> domains");
    HAS("data-name=\"beta.example\" data-sending=\"0\"");
    cr_assert_eq(get("GET", "/subscriptions", now), 200);
    HAS("<td data-label=\"Plan\"><span class=\"name\">basic</span></td>");

    /* 120 mailboxes more: 3 pages of 50 */
    char name[64];
    for (int i = 0; i < 120; i++) {
        snprintf(name, sizeof name, "m%03d@acme.example", i);
        cr_assert_eq(maillimit_mailbox_add(ml, name), 0);
    }
    cr_assert_eq(get("GET", "/mailboxes?page=3", now), 200);
    HAS("<span>Page 3 of 3</span>");
    cr_assert_eq(count(body(), "<tr class=\"entity\""), 23);
    HAS("<a rel=\"prev\" href=\"?sort=name&amp;order=asc&amp;page=2\">");
    cr_assert_eq(get("GET", "/mailboxes?page=99", now), 200);
    HAS("<span>Page 3 of 3</span>");
}

Test(http_pages, a_subscriptions_own_view_shows_only_its_objects)
{
    int64_t now = NOW0 + 40;
    cr_assert_eq(get("GET", "/subscription/beta/", now), 200);
    HAS("<h1>beta</h1>");
    HAS("<div class=\"v sent\">5</div>");
    HAS("<div class=\"v denied\">3</div>");
    HASNT("acme");
    HASNT("Subscriptions</a>");
    HASNT("unattributed");
    cr_assert_eq(get("GET", "/subscription/beta/mailboxes", now), 200);
    HAS("<span class=\"total\">1</span> email address.");
    HAS("href=\"./mailbox/info@beta.example\"");
    HASNT("acme");
    cr_assert_eq(get("GET", "/subscription/beta/mailbox/info@beta.example", now), 200);
    HAS("<a class=\"name\" href=\"../domain/beta.example\">beta.example</a>");
    HASNT("Server</a>");
    /* nothing of another subscription */
    cr_assert_eq(get("GET", "/subscription/beta/mailbox/ceo@acme.example", now), 404);
    cr_assert_eq(get("GET", "/subscription/beta/domain/acme.example", now), 404);
    cr_assert_eq(get("GET", "/subscription/beta/mailboxes?domain=acme.example", now), 404);
    cr_assert_eq(get("GET", "/subscription/beta/subscriptions", now), 404);
    cr_assert_eq(get("GET", "/subscription/beta/subscription/acme", now), 404);
    cr_assert_eq(get("GET", "/subscription/beta/subscription/beta", now), 301);
    cr_assert_str_eq(resp.location, "../");
    cr_assert_eq(get("GET", "/subscription/nobody/", now), 404);
    /* the global page of a subscription links to its own view */
    cr_assert_eq(get("GET", "/subscription/beta", now), 200);
    HAS("<a href=\"../subscription/beta/\">subscription/beta/</a>");
}

Test(http_pages, waits_are_rounded_up_to_the_minute)
{
    /* ceo's 30 leave the window at 10:30:00 */
    static const struct { int64_t now; const char *text; } w[] = {
        { NOW0 + 40, "(in 59 min)" },                     /* 09:31:00: 3540 s */
        { NOW0 - 20, "(in 60 min)" },                     /* 09:30:00: 3600 s */
        { DAY0 + 86400 + 10 * 3600 + 29 * 60 + 15, "(in 45 s)" },
        { DAY0 + 86400 + 10 * 3600 + 28 * 60 + 59, "(in 2 min)" },
    };
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
        cr_assert_eq(get("GET", "/mailbox/ceo@acme.example", w[i].now), 200);
        char want[200];
        snprintf(want, sizeof want, "2026-12-06 10:30:00</time> <span class=\"note\">%s</span>",
                 w[i].text);
        HAS(want);
    }
}

Test(http_pages, routing_errors)
{
    int64_t now = NOW0 + 40;
    cr_assert_eq(get("POST", "/", now), 405);
    cr_assert_eq(get("DELETE", "/metrics", now), 405);
    cr_assert_eq(get("GET", "/nothing", now), 404);
    cr_assert_eq(get("GET", "/mailbox/nobody@acme.example", now), 404);
    HAS("<span class=\"name\">nobody@acme.example</span>");
    cr_assert_eq(get("GET", "/mailbox/a%00b@acme.example", now), 400);
    cr_assert_eq(get("GET", "/mailbox/a%zzb", now), 400);
    cr_assert_eq(get("GET", "relative", now), 400);
    cr_assert_eq(get("GET", "/a/b/c/d/e/f/g/h/i", now), 404);
    cr_assert_eq(get("GET", "/mailboxes/", now), 404);
    cr_assert_eq(get("HEAD", "/", now), 200);
    cr_assert_eq(get("GET", "/metrics", now), 200, "without metrics: the handle's figures");
    cr_assert_str_eq(resp.ctype, "text/plain; version=0.0.4; charset=utf-8");
}

Test(http_pages, the_reader_thread_makes_the_same_pages)
{
    const char *urls[] = { "/", "/?hours=744", "/mailbox/ceo@acme.example?day=2026-12-05",
                           "/domain/beta.example", "/subscription/acme/", "/mailboxes?sort=count",
                           "/metrics" };
    char *direct[7];
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(get("GET", urls[i], NOW0 + 40), 200);
        direct[i] = strdup(body());
    }
    /* the same pages with the locked calls made on the reader thread (as http.c does) */
    maillimit__gate gate;
    pthread_mutex_init(&gate.mu, NULL);
    maillimit__pages_free(pages);
    cr_assert_eq(maillimit__pages_new(&pages, ml, NULL, &gate), 0);
    cr_assert_eq(maillimit__pages_reader_start(pages), 0);
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(get("GET", urls[i], NOW0 + 40), 200);
        cr_assert_str_eq(body(), direct[i], "%s", urls[i]);
        free(direct[i]);
    }
    maillimit__pages_free(pages);
    pages = NULL;
    pthread_mutex_destroy(&gate.mu);
    cr_assert_eq(maillimit__pages_new(&pages, ml, NULL, NULL), 0);
}

Test(http_pages, handle_figures_for_the_metrics)
{
    maillimit__handle_figures f;
    maillimit__pages_figures(pages, NOW0 + 40, &f);
    cr_assert_eq(f.enabled, 1);
    cr_assert_eq(f.entities[MAILLIMIT_LEVEL_PLAN], 1);
    cr_assert_eq(f.entities[MAILLIMIT_LEVEL_SUBSCRIPTION], 2);
    cr_assert_eq(f.entities[MAILLIMIT_LEVEL_DOMAIN], 2);
    cr_assert_eq(f.entities[MAILLIMIT_LEVEL_MAILBOX], 2);
    cr_assert_eq(f.entities[MAILLIMIT_LIST_SYSUSER], 0);
    cr_assert_eq(f.implicit_mailboxes, 1);
    cr_assert_eq(f.open_episodes[MAILLIMIT_LEVEL_MAILBOX], 1);
    cr_assert_eq(f.open_episodes[MAILLIMIT_LEVEL_DOMAIN], 1);
    cr_assert_eq(f.open_episodes[MAILLIMIT_LEVEL_SUBSCRIPTION], 0);
    cr_assert_eq(f.open_episodes[MAILLIMIT_LEVEL_SERVER], 0);
    cr_assert_eq(f.events_dropped, 0);
    /* counts are kept 10 s after the hierarchy changed, 60 s otherwise */
    cr_assert_eq(maillimit_mailbox_add(ml, "new@beta.example"), 0);
    decide(MAILLIMIT_LEVEL_MAILBOX, "other@beta.example", 1, NOW0 + 45, MAILLIMIT_DENY);
    maillimit__pages_figures(pages, NOW0 + 49, &f);
    cr_assert_eq(f.entities[MAILLIMIT_LEVEL_MAILBOX], 2);
    maillimit__pages_figures(pages, NOW0 + 50, &f);
    cr_assert_eq(f.entities[MAILLIMIT_LEVEL_MAILBOX], 3);
    cr_assert_eq(f.implicit_mailboxes, 2);
    decide(MAILLIMIT_LEVEL_MAILBOX, "third@beta.example", 1, NOW0 + 60, MAILLIMIT_DENY);
    maillimit__pages_figures(pages, NOW0 + 109, &f);
    cr_assert_eq(f.implicit_mailboxes, 2, "an implicit mailbox does not change the hierarchy");
    maillimit__pages_figures(pages, NOW0 + 110, &f);
    cr_assert_eq(f.implicit_mailboxes, 3);
}

/* ---- odd names through every page ------------------------------------------------------ */

static const char *const allowed_tags[] = {
    "html", "head", "meta", "title", "style", "body", "header", "span", "nav", "a", "main",
    "h1", "h2", "p", "div", "table", "tr", "th", "td", "b", "br", "time", "form", "input",
    "button", "svg", "line", "text", "g", "rect", "details", "summary", "footer", "ul", "li",
};
static const char *const allowed_attrs[] = {
    "lang", "charset", "name", "content", "class", "href", "id", "method", "action", "value",
    "type", "placeholder", "aria-label", "colspan", "rel", "datetime", "viewBox", "width",
    "height", "role", "xmlns", "x", "y", "x1", "y1", "x2", "y2", "stroke", "stroke-width",
    "font-size", "text-anchor", "fill", "title",
};

static int in_list(const char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0)
            return 1;
    return 0;
}

/* Every tag is one of ours with attributes of ours, each value in double quotes holding no
 * '"' or '<'; text holds no '>' outside the style sheet. Returns NULL or what was wrong. */
static const char *markup_problem(const char *h)
{
    static char why[200];
    const char *p = h;
    if (strncmp(p, "<!DOCTYPE html>", 15) == 0)
        p += 15;
    while ((p = strchr(p, '<'))) {
        const char *t = p + 1;
        if (*t == '/')
            t++;
        size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789");
        if (!in_list(allowed_tags, sizeof allowed_tags / sizeof *allowed_tags, t, n)) {
            snprintf(why, sizeof why, "tag at %.40s", p);
            return why;
        }
        int style = n == 5 && strncmp(t, "style", 5) == 0 && p[1] != '/';
        t += n;
        for (;;) {
            t += strspn(t, " \n");
            if (*t == '>' || (t[0] == '/' && t[1] == '>'))
                break;
            size_t an = strspn(t,
                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
            if (!(an > 5 && strncmp(t, "data-", 5) == 0) &&
                !in_list(allowed_attrs, sizeof allowed_attrs / sizeof *allowed_attrs, t, an)) {
                snprintf(why, sizeof why, "attribute at %.40s", t);
                return why;
            }
            t += an;
            if (*t != '=')
                continue;
            if (t[1] != '"') {
                snprintf(why, sizeof why, "unquoted value at %.40s", t);
                return why;
            }
            const char *end = strchr(t + 2, '"');
            if (!end || memchr(t + 2, '<', (size_t)(end - t - 2))) {
                snprintf(why, sizeof why, "value at %.40s", t);
                return why;
            }
            t = end + 1;
        }
        p = strchr(t, '>') + 1;
        if (style) {
            p = strstr(p, "</style>");
            if (!p)
                return "style not closed";
            continue;
        }
        const char *next = strchr(p, '<');
        const char *gt = strchr(p, '>');
        if (gt && (!next || gt < next)) {
            snprintf(why, sizeof why, "'>' in text at %.40s", p);
            return why;
        }
    }
    if (strcasestr(h, "<script"))
        return "script";
    /* every link stays on these pages */
    for (const char *x = h; (x = strstr(x, " href=\"")); x += 7)
        if (strncmp(x + 7, "./", 2) != 0 && strncmp(x + 7, "../", 3) != 0 && x[7] != '?') {
            snprintf(why, sizeof why, "link at %.40s", x);
            return why;
        }
    return NULL;
}

Test(http_pages, odd_names_are_escaped_everywhere_and_their_links_work)
{
    static const char *const pieces[] = {
        "\"", "'", "<", ">", "&", "<script>alert(1)</script>", "%", "%2F", "/", "?", "#", "+",
        "=", ";", "\\", "`", "\xc3\xbc", "\xe2\x82\xac", "\xf0\x9f\x93\xa7", "\xff", "\xc0",
        "a", "Z", "0", ".", "-", "_", "~", "onmouseover=\"x()\"", "javascript:", "&amp;",
        "&#60;", "]]>", "<!--", "*/",
    };
    const size_t np = sizeof pieces / sizeof *pieces;
    unsigned seed = 20261206;
    char names[60][MAILLIMIT_NAME_BUFFER];
    int64_t now = NOW0 + 40;
    cr_assert_eq(maillimit_domain_add(ml, "odd.example", "acme"), 0);
    for (int i = 0; i < 60; i++) {
        char local[200] = "";
        int k = 1 + (int)(rand_r(&seed) % 6);
        for (int j = 0; j < k; j++)
            strcat(local, pieces[rand_r(&seed) % np]);
        snprintf(names[i], sizeof names[i], "%s%d@odd.example", local, i);
        for (char *x = names[i]; *x; x++) /* the core lower-cases ASCII */
            if (*x >= 'A' && *x <= 'Z')
                *x = (char)(*x + 32);
        cr_assert_eq(maillimit_mailbox_add(ml, names[i]), 0, "%s", names[i]);
        if (i % 2)
            decide(MAILLIMIT_LEVEL_MAILBOX, names[i], 1, now, MAILLIMIT_ALLOW);
    }
    const char *urls[] = { "/", "/mailboxes", "/mailboxes?sort=count", "/domains",
                           "/subscription/acme/", "/subscription/acme/mailboxes?domain=odd.example",
                           "/mailboxes?q=%3Cscript%3E" };
    for (size_t u = 0; u < sizeof urls / sizeof *urls; u++) {
        cr_assert_eq(get("GET", urls[u], now), 200, "%s", urls[u]);
        const char *why = markup_problem(body());
        cr_assert_null(why, "%s: %s", urls[u], why);
    }
    for (int i = 0; i < 60; i++) {
        maillimit__buf link = { 0 }, text = { 0 };
        maillimit__buf_puts(&link, "/mailbox/");
        maillimit__url_esc(&link, names[i]);
        maillimit__html_esc(&text, names[i]);
        cr_assert_eq(get("GET", link.p, now), 200, "%s", link.p);
        const char *why = markup_problem(body());
        cr_assert_null(why, "%s: %s", link.p, why);
        char h1[1200];
        snprintf(h1, sizeof h1, "<h1 class=\"entity\" data-level=\"mailbox\">%s</h1>", text.p);
        HAS(h1);
        /* the same page inside the subscription's view */
        maillimit__buf scoped = { 0 };
        maillimit__buf_puts(&scoped, "/subscription/acme/mailbox/");
        maillimit__url_esc(&scoped, names[i]);
        cr_assert_eq(get("GET", scoped.p, now), 200, "%s", scoped.p);
        HAS(h1);
        /* the list (60 names: two pages) links to it with the same escape */
        char href[1200];
        snprintf(href, sizeof href, "href=\"./mailbox/%s\">%s</a>", link.p + 9, text.p);
        cr_assert_eq(get("GET", "/mailboxes?domain=odd.example", now), 200);
        int on1 = strstr(body(), href) != NULL;
        cr_assert_eq(get("GET", "/mailboxes?domain=odd.example&page=2", now), 200);
        int on2 = strstr(body(), href) != NULL;
        cr_assert_eq(on1 + on2, 1, "%s", href);
        maillimit__buf_free(&link);
        maillimit__buf_free(&text);
        maillimit__buf_free(&scoped);
    }
}

#endif

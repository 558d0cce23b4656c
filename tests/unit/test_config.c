/* SPDX-License-Identifier: MIT */
/* Configuration text: maillimit_config_load() and maillimit_config_load_mem(). */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "maillimit.h"

enum { SV = MAILLIMIT_LEVEL_SERVER, PL = MAILLIMIT_LEVEL_PLAN,
       SU = MAILLIMIT_LEVEL_SUBSCRIPTION, DO = MAILLIMIT_LEVEL_DOMAIN,
       MB = MAILLIMIT_LEVEL_MAILBOX, SY = MAILLIMIT__LEVEL_SYSUSER };
enum { HOUR = MAILLIMIT_WINDOW_HOUR, DAY = MAILLIMIT_WINDOW_DAY };
enum { SENDMAIL = MAILLIMIT_FLAG_SENDMAIL, EXEMPT = MAILLIMIT_FLAG_EXEMPT };
enum { DEF = MAILLIMIT_DEFAULT, UNL = MAILLIMIT_UNLIMITED };

static const char spec_example[] =
    "enable yes\n"
    "unit messages                      # or recipients\n"
    "server mailbox=100 domain=500 subscription=1000 server.day=unlimited\n"
    "plan basic mailbox=50 domain=200 subscription=400 sendmail=yes\n"
    "subscription acme plan=basic subscription=unlimited\n"
    "domain acme.example subscription=acme domain=300 mailbox.day=2000\n"
    "mailbox ceo@acme.example mailbox=20\n"
    "mailbox news@acme.example exempt=yes\n"
    "sysuser acme_web subscription=acme\n";

static maillimit *ml;
static char err[1024];

static void setup(void)
{
    cr_assert_eq(maillimit_new(&ml), 0);
    memset(err, 0, sizeof err);
}

static void teardown(void)
{
    maillimit_free(ml);
    ml = NULL;
}

TestSuite(config, .init = setup, .fini = teardown);

/* ---- helpers ----------------------------------------------------------------------------- */

static int load(const char *text)
{
    return maillimit_config_load_mem(ml, text, strlen(text), err, sizeof err);
}

static void load_ok(const char *text)
{
    int rc = load(text);
    cr_assert_eq(rc, 0, "load failed: %d %s", rc, err);
    cr_assert_str_eq(err, "");
}

/* Value as set. */
static int64_t lv(int level, const char *name, int target, int window)
{
    int64_t v = 12345;
    int rc = maillimit_limit_configured(ml, level, name, target, window, &v);
    cr_assert_eq(rc, 0, "limit_configured(%d, %s, %d, %d) = %d", level, name ? name : "NULL",
                 target, window, rc);
    return v;
}

/* Effective limit of the entity's own counter. */
static int64_t eff(int level, const char *name, int window)
{
    int64_t v = 12345;
    int rc = maillimit_limit_effective(ml, level, name, window, &v);
    cr_assert_eq(rc, 0, "limit_effective(%d, %s, %d) = %d", level, name ? name : "NULL", window,
                 rc);
    return v;
}

static int fval(int level, const char *name, int flag)
{
    int v = 123;
    int rc = maillimit_flag_configured(ml, level, name, flag, &v);
    cr_assert_eq(rc, 0, "flag_configured(%d, %s, %d) = %d", level, name ? name : "NULL", flag, rc);
    return v;
}

static int fget(int level, const char *name, int flag)
{
    int v = 123;
    int rc = maillimit_flag_effective(ml, level, name, flag, &v);
    cr_assert_eq(rc, 0, "flag_effective(%d, %s, %d) = %d", level, name ? name : "NULL", flag, rc);
    return v;
}

static int exists(int level, const char *name)
{
    return maillimit__lookup(ml, level, name) != NULL;
}

/* Name of an entity's parent ("" for none); the entity must exist. */
static const char *parent(int level, const char *name)
{
    struct maillimit__entity *e = maillimit__lookup(ml, level, name);
    cr_assert(e != NULL, "%s does not exist", name);
    struct maillimit__entity *p = atomic_load(&e->parent);
    return p ? p->name : "";
}

/* A text fingerprint of everything the tests' files can touch. */
static void put(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t n, const char *fmt, ...)
{
    size_t o = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + o, n - o, fmt, ap);
    va_end(ap);
}

static void snap_entity(char *buf, size_t n, int level, const char *name)
{
    static const int first_target[] = {SV, SU, SU, DO, MB};
    if (level != SV && !exists(level, name)) {
        put(buf, n, "%d:%s absent\n", level, name);
        return;
    }
    put(buf, n, "%d:%s", level, name ? name : "-");
    if (level == SY) {
        put(buf, n, " parent=%s\n", parent(level, name));
        return;
    }
    for (int t = first_target[level]; t <= MB; t++) {
        if (level == SV && t == PL)
            continue;
        for (int w = HOUR; w <= DAY; w++) {
            int64_t v = 12345;
            cr_assert_eq(maillimit_limit_configured(ml, level, name, t, w, &v), 0);
            put(buf, n, " %d.%d=%lld", t, w, (long long)v);
        }
    }
    if (level <= SU)
        put(buf, n, " sendmail=%d", fval(level, name, SENDMAIL));
    if (level >= PL)
        put(buf, n, " exempt=%d", fval(level, name, EXEMPT));
    if (level == SU || level == DO || level == MB)
        put(buf, n, " parent=%s", parent(level, name));
    put(buf, n, "\n");
}

static void snap(char *buf, size_t n)
{
    buf[0] = '\0';
    int on = -1, unit = -1;
    cr_assert_eq(maillimit_enabled_get(ml, &on), 0);
    cr_assert_eq(maillimit_unit_get(ml, &unit), 0);
    put(buf, n, "enabled=%d unit=%d\n", on, unit);
    snap_entity(buf, n, SV, NULL);
    static const struct { int level; const char *name; } ents[] = {
        {PL, "basic"}, {PL, "tmp"}, {PL, "p2"}, {PL, "gold"},
        {SU, "acme"}, {SU, "beta"}, {SU, "s2"},
        {DO, "acme.example"}, {DO, "d2.example"},
        {MB, "ceo@acme.example"}, {MB, "news@acme.example"}, {MB, "x@acme.example"},
        {MB, "a@acme.example"},
        {SY, "acme_web"}, {SY, "u2"},
    };
    for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++)
        snap_entity(buf, n, ents[i].level, ents[i].name);
}

/* Lines 1-8 of every failing file: each would change the state of the SPEC example. */
static const char change_prefix[] =
    "enable no\n"
    "unit recipients\n"
    "server mailbox=1\n"
    "plan tmp mailbox=5\n"
    "subscription beta plan=tmp\n"
    "domain acme.example subscription=beta\n"
    "sysuser acme_web subscription=beta\n"
    "mailbox ceo@acme.example mailbox=1 exempt=yes\n";
enum { PREFIX_LINES = 8 };

/* Load the SPEC example, then change_prefix + body[0..len): expect EFORMAT with a message
 * "<memory>:LINE: ..." containing needle (LINE counted from the start of body, 1-based), and
 * not one value changed. */
static void fails_len(const char *body, size_t len, int line, const char *needle)
{
    load_ok(spec_example);
    char before[8192], after[8192];
    snap(before, sizeof before);

    size_t plen = strlen(change_prefix);
    char *text = malloc(plen + len);
    cr_assert(text != NULL);
    memcpy(text, change_prefix, plen);
    memcpy(text + plen, body, len);
    strcpy(err, "untouched");
    int rc = maillimit_config_load_mem(ml, text, plen + len, err, sizeof err);
    free(text);

    char where[64];
    snprintf(where, sizeof where, "<memory>:%d: ", PREFIX_LINES + line);
    cr_assert_eq(rc, MAILLIMIT_EFORMAT, "rc %d, err %s", rc, err);
    cr_assert(strncmp(err, where, strlen(where)) == 0, "expected %s..., got %s", where, err);
    cr_assert(strstr(err, needle) != NULL, "expected \"%s\" in: %s", needle, err);
    snap(after, sizeof after);
    cr_assert_str_eq(after, before);
    int64_t v;
    cr_assert_eq(maillimit_limit_configured(ml, PL, "tmp", MB, HOUR, &v), MAILLIMIT_ENOTFOUND);
}

static void fails(const char *body, int line, const char *needle)
{
    fails_len(body, strlen(body), line, needle);
}

/* The whole message, exactly. */
static void fails_exactly(const char *body, int line, const char *message)
{
    fails(body, line, message);
    char full[1200];
    snprintf(full, sizeof full, "<memory>:%d: %s", PREFIX_LINES + line, message);
    cr_assert_str_eq(err, full);
}

/* ---- the SPEC example -------------------------------------------------------------------- */

Test(config, spec_example_sets_exactly_what_it_says)
{
    int on = -1, unit = -1;
    cr_assert_eq(maillimit_enabled_set(ml, 0), 0);
    load_ok(spec_example);
    cr_assert_eq(maillimit_enabled_get(ml, &on), 0);
    cr_assert_eq(on, 1);
    cr_assert_eq(maillimit_unit_get(ml, &unit), 0);
    cr_assert_eq(unit, MAILLIMIT_UNIT_MESSAGES);

    /* server */
    cr_assert_eq(lv(SV, NULL, MB, HOUR), 100);
    cr_assert_eq(lv(SV, NULL, DO, HOUR), 500);
    cr_assert_eq(lv(SV, NULL, SU, HOUR), 1000);
    cr_assert_eq(lv(SV, NULL, SV, DAY), UNL);
    cr_assert_eq(lv(SV, NULL, SV, HOUR), UNL);
    cr_assert_eq(lv(SV, NULL, MB, DAY), UNL);
    cr_assert_eq(fval(SV, NULL, SENDMAIL), 1);

    /* plan basic */
    cr_assert_eq(lv(PL, "basic", MB, HOUR), 50);
    cr_assert_eq(lv(PL, "basic", DO, HOUR), 200);
    cr_assert_eq(lv(PL, "basic", SU, HOUR), 400);
    cr_assert_eq(lv(PL, "basic", MB, DAY), DEF);
    cr_assert_eq(fval(PL, "basic", SENDMAIL), 1);
    cr_assert_eq(fval(PL, "basic", EXEMPT), DEF);

    /* subscription acme */
    cr_assert_str_eq(parent(SU, "acme"), "basic");
    cr_assert_eq(lv(SU, "acme", SU, HOUR), UNL);
    cr_assert_eq(lv(SU, "acme", MB, HOUR), DEF);
    cr_assert_eq(lv(SU, "acme", DO, HOUR), DEF);
    cr_assert_eq(fval(SU, "acme", SENDMAIL), DEF);

    /* domain acme.example */
    cr_assert_str_eq(parent(DO, "acme.example"), "acme");
    cr_assert_eq(lv(DO, "acme.example", DO, HOUR), 300);
    cr_assert_eq(lv(DO, "acme.example", MB, DAY), 2000);
    cr_assert_eq(lv(DO, "acme.example", MB, HOUR), DEF);
    cr_assert_eq(lv(DO, "acme.example", DO, DAY), DEF);
    cr_assert_eq(fval(DO, "acme.example", EXEMPT), DEF);

    /* mailboxes */
    cr_assert_str_eq(parent(MB, "ceo@acme.example"), "acme.example");
    cr_assert_eq(lv(MB, "ceo@acme.example", MB, HOUR), 20);
    cr_assert_eq(lv(MB, "ceo@acme.example", MB, DAY), DEF);
    cr_assert_eq(fval(MB, "ceo@acme.example", EXEMPT), DEF);
    cr_assert_eq(lv(MB, "news@acme.example", MB, HOUR), DEF);
    cr_assert_eq(fval(MB, "news@acme.example", EXEMPT), 1);

    /* system user */
    cr_assert_str_eq(parent(SY, "acme_web"), "acme");
}

Test(config, spec_example_inheritance)
{
    load_ok(spec_example);
    /* own values */
    cr_assert_eq(eff(MB, "ceo@acme.example", HOUR), 20);
    cr_assert_eq(eff(DO, "acme.example", HOUR), 300);
    cr_assert_eq(eff(SU, "acme", HOUR), UNL);
    /* inherited: the domain's daily mailbox default, the plan's hourly one */
    cr_assert_eq(eff(MB, "ceo@acme.example", DAY), 2000);
    cr_assert_eq(eff(MB, "news@acme.example", HOUR), 50);
    cr_assert_eq(maillimit_mailbox_add(ml, "x@acme.example"), 0);
    cr_assert_eq(eff(MB, "x@acme.example", HOUR), 50);
    cr_assert_eq(eff(MB, "x@acme.example", DAY), 2000);
    /* nothing sets a daily domain or subscription limit: the server's unlimited */
    cr_assert_eq(eff(DO, "acme.example", DAY), UNL);
    cr_assert_eq(eff(SU, "acme", DAY), UNL);
    cr_assert_eq(eff(SV, NULL, DAY), UNL);
    /* flags */
    cr_assert_eq(fget(MB, "news@acme.example", EXEMPT), 1);
    cr_assert_eq(fget(MB, "ceo@acme.example", EXEMPT), 0);
    cr_assert_eq(fget(SU, "acme", SENDMAIL), 1);
}

Test(config, spec_example_decides)
{
    load_ok(spec_example);
    const int64_t now = 1700000000;
    maillimit_verdict v;
    for (int i = 0; i < 20; i++) {
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        cr_assert_eq(maillimit_decide(ml, MB, "ceo@acme.example", 1, now, &v), 0);
        cr_assert_eq(v.decision, MAILLIMIT_ALLOW, "message %d", i + 1);
    }
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    cr_assert_eq(maillimit_decide(ml, MB, "ceo@acme.example", 1, now, &v), 0);
    cr_assert_eq(v.decision, MAILLIMIT_DENY);
    cr_assert_eq(v.level, MB);
    cr_assert_eq(v.limit, 20);
    /* the system user sends as its subscription */
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    cr_assert_eq(maillimit_decide(ml, SU, "acme_web", 1, now, &v), 0);
    cr_assert_eq(v.decision, MAILLIMIT_ALLOW);
    cr_assert_eq(v.reason, MAILLIMIT_REASON_NONE);
}

/* ---- syntax that is accepted -------------------------------------------------------------- */

Test(config, empty_and_comment_only_texts_change_nothing)
{
    load_ok(spec_example);
    char before[8192], after[8192];
    snap(before, sizeof before);
    load_ok("");
    load_ok("\n\n   \n\t\n");
    load_ok("# nothing\n   # indented comment\n#\n");
    load_ok("# no newline at the end");
    snap(after, sizeof after);
    cr_assert_str_eq(after, before);
}

Test(config, comments_blanks_tabs_and_crlf)
{
    load_ok("  # a comment\r\n"
            "\r\n"
            "\tplan\tgold \t mailbox=7   # trailing comment mailbox=8\r\n"
            "plan silver mailbox=9 #domain=1\n"
            "plan bronze mailbox=3\r");
    cr_assert_eq(lv(PL, "gold", MB, HOUR), 7);
    cr_assert_eq(lv(PL, "silver", MB, HOUR), 9);
    cr_assert_eq(lv(PL, "silver", DO, HOUR), DEF);
    cr_assert_eq(lv(PL, "bronze", MB, HOUR), 3);
}

Test(config, limit_spellings)
{
    load_ok("plan p mailbox=0 mailbox.day=007 domain=9223372036854775807 domain.day=unlimited "
            "subscription=default subscription.day=18446\n");
    cr_assert_eq(lv(PL, "p", MB, HOUR), 0);
    cr_assert_eq(lv(PL, "p", MB, DAY), 7);
    cr_assert_eq(lv(PL, "p", DO, HOUR), INT64_MAX);
    cr_assert_eq(lv(PL, "p", DO, DAY), UNL);
    cr_assert_eq(lv(PL, "p", SU, HOUR), DEF);
    cr_assert_eq(lv(PL, "p", SU, DAY), 18446);
}

Test(config, every_key_of_every_directive_maps_to_its_target_and_window)
{
    load_ok("server server=1 server.day=2 subscription=3 subscription.day=4 domain=5 "
            "domain.day=6 mailbox=7 mailbox.day=8 sendmail=no\n"
            "plan p subscription=11 subscription.day=12 domain=13 domain.day=14 mailbox=15 "
            "mailbox.day=16 sendmail=no exempt=yes\n"
            "subscription s plan=p subscription=21 subscription.day=22 domain=23 "
            "domain.day=24 mailbox=25 mailbox.day=26 sendmail=yes exempt=no\n"
            "domain d.example subscription=s domain=33 domain.day=34 mailbox=35 "
            "mailbox.day=36 exempt=yes\n"
            "mailbox m@d.example mailbox=45 mailbox.day=46 exempt=no\n"
            "sysuser u subscription=s\n");
    int64_t want_sv[5][2] = {{1, 2}, {0, 0}, {3, 4}, {5, 6}, {7, 8}};
    for (int t = SV; t <= MB; t++)
        for (int w = HOUR; w <= DAY; w++)
            if (t != PL)
                cr_assert_eq(lv(SV, NULL, t, w), want_sv[t][w], "server %d %d", t, w);
    for (int t = SU; t <= MB; t++)
        for (int w = HOUR; w <= DAY; w++) {
            int64_t base = 11 + 2 * (t - SU) + w;
            cr_assert_eq(lv(PL, "p", t, w), base);
            cr_assert_eq(lv(SU, "s", t, w), base + 10);
            if (t >= DO)
                cr_assert_eq(lv(DO, "d.example", t, w), base + 20);
            if (t == MB)
                cr_assert_eq(lv(MB, "m@d.example", t, w), base + 30);
        }
    cr_assert_eq(fval(SV, NULL, SENDMAIL), 0);
    cr_assert_eq(fval(PL, "p", SENDMAIL), 0);
    cr_assert_eq(fval(PL, "p", EXEMPT), 1);
    cr_assert_eq(fval(SU, "s", SENDMAIL), 1);
    cr_assert_eq(fval(SU, "s", EXEMPT), 0);
    cr_assert_eq(fval(DO, "d.example", EXEMPT), 1);
    cr_assert_eq(fval(MB, "m@d.example", EXEMPT), 0);
    cr_assert_str_eq(parent(SU, "s"), "p");
    cr_assert_str_eq(parent(DO, "d.example"), "s");
    cr_assert_str_eq(parent(MB, "m@d.example"), "d.example");
    cr_assert_str_eq(parent(SY, "u"), "s");
    /* domain's subscription= is its placement, not a limit */
    cr_assert_eq(lv(SU, "s", SU, HOUR), 21);
}

Test(config, flag_and_switch_spellings)
{
    load_ok("server sendmail=off\n"
            "plan a sendmail=on exempt=off\n"
            "plan b sendmail=1 exempt=0\n"
            "plan c sendmail=default exempt=default\n"
            "enable off\n");
    int on = -1;
    cr_assert_eq(fval(SV, NULL, SENDMAIL), 0);
    cr_assert_eq(fval(PL, "a", SENDMAIL), 1);
    cr_assert_eq(fval(PL, "a", EXEMPT), 0);
    cr_assert_eq(fval(PL, "b", SENDMAIL), 1);
    cr_assert_eq(fval(PL, "b", EXEMPT), 0);
    cr_assert_eq(fval(PL, "c", SENDMAIL), DEF);
    cr_assert_eq(fval(PL, "c", EXEMPT), DEF);
    cr_assert_eq(maillimit_enabled_get(ml, &on), 0);
    cr_assert_eq(on, 0);
    load_ok("enable 1\n");
    cr_assert_eq(maillimit_enabled_get(ml, &on), 0);
    cr_assert_eq(on, 1);
    load_ok("enable 0\n");
    cr_assert_eq(maillimit_enabled_get(ml, &on), 0);
    cr_assert_eq(on, 0);
    load_ok("enable on\n");
    cr_assert_eq(maillimit_enabled_get(ml, &on), 0);
    cr_assert_eq(on, 1);
    load_ok("enable no\n");
    cr_assert_eq(maillimit_enabled_get(ml, &on), 0);
    cr_assert_eq(on, 0);
}

Test(config, unit_setting)
{
    int unit = -1;
    load_ok("unit recipients\n");
    cr_assert_eq(maillimit_unit_get(ml, &unit), 0);
    cr_assert_eq(unit, MAILLIMIT_UNIT_RECIPIENTS);
    load_ok("unit messages\n");
    cr_assert_eq(maillimit_unit_get(ml, &unit), 0);
    cr_assert_eq(unit, MAILLIMIT_UNIT_MESSAGES);
}

Test(config, names_are_case_insensitive)
{
    load_ok("plan Gold mailbox=5\n"
            "subscription ACME plan=GOLD\n"
            "domain Acme.Example subscription=acme\n"
            "mailbox CEO@ACME.example mailbox=4\n"
            "sysuser Web1 subscription=Acme\n");
    cr_assert_str_eq(parent(SU, "acme"), "gold");
    cr_assert_str_eq(parent(DO, "acme.example"), "acme");
    cr_assert_str_eq(parent(MB, "ceo@acme.example"), "acme.example");
    cr_assert_str_eq(parent(SY, "web1"), "acme");
    cr_assert_eq(lv(MB, "Ceo@Acme.Example", MB, HOUR), 4);
}

Test(config, server_keys_may_be_spread_over_lines)
{
    load_ok("server mailbox=5\nserver mailbox.day=50 sendmail=no\nserver server=900\n");
    cr_assert_eq(lv(SV, NULL, MB, HOUR), 5);
    cr_assert_eq(lv(SV, NULL, MB, DAY), 50);
    cr_assert_eq(lv(SV, NULL, SV, HOUR), 900);
    cr_assert_eq(fval(SV, NULL, SENDMAIL), 0);
}

Test(config, entities_without_options)
{
    load_ok("plan p\nsubscription s\ndomain d.example subscription=s\nmailbox m@d.example\n"
            "server\n");
    cr_assert_str_eq(parent(SU, "s"), "");
    cr_assert_str_eq(parent(DO, "d.example"), "s");
    cr_assert_eq(lv(PL, "p", MB, HOUR), DEF);
    cr_assert_eq(lv(MB, "m@d.example", MB, HOUR), DEF);
    cr_assert_eq(lv(SV, NULL, MB, HOUR), UNL);
}

Test(config, longest_name_and_longest_line_are_accepted)
{
    char text[5000];
    memset(text, 0, sizeof text);
    /* "plan " + 320 bytes */
    strcpy(text, "plan ");
    memset(text + 5, 'n', 320);
    strcat(text, "\n");
    load_ok(text);
    text[5 + 320] = '\0';
    cr_assert(exists(PL, text + 5));

    /* a 4096-byte line, with and without \r\n */
    memset(text, ' ', 4096);
    memcpy(text, "plan q", 6);
    memcpy(text + 4096 - 9, "mailbox=1", 9);
    strcpy(text + 4096, "\r\n");
    load_ok(text);
    cr_assert_eq(lv(PL, "q", MB, HOUR), 1);
    memcpy(text, "plan r", 6);
    strcpy(text + 4096, "\n");
    load_ok(text);
    cr_assert_eq(lv(PL, "r", MB, HOUR), 1);
    memcpy(text, "plan s", 6);
    text[4096] = '\0';
    load_ok(text);
    cr_assert_eq(lv(PL, "s", MB, HOUR), 1);
}

Test(config, references_to_entities_of_the_handle)
{
    cr_assert_eq(maillimit_plan_add(ml, "gold"), 0);
    cr_assert_eq(maillimit_subscription_add(ml, "s1", "gold"), 0);
    cr_assert_eq(maillimit_domain_add(ml, "old.example", "s1"), 0);
    load_ok("subscription s2 plan=gold\n"
            "domain d.example subscription=s1\n"
            "mailbox a@old.example mailbox=3\n"
            "sysuser u subscription=s1\n");
    cr_assert_str_eq(parent(SU, "s2"), "gold");
    cr_assert_str_eq(parent(DO, "d.example"), "s1");
    cr_assert_eq(lv(MB, "a@old.example", MB, HOUR), 3);
    cr_assert_str_eq(parent(SY, "u"), "s1");
}

/* ---- reloading ----------------------------------------------------------------------------- */

Test(config, loading_twice_is_a_no_op)
{
    char before[8192], after[8192];
    load_ok(spec_example);
    snap(before, sizeof before);
    load_ok(spec_example);
    snap(after, sizeof after);
    cr_assert_str_eq(after, before);
}

Test(config, reload_moves_a_domain)
{
    load_ok(spec_example);
    cr_assert_eq(maillimit_mailbox_add(ml, "x@acme.example"), 0);
    cr_assert_eq(eff(MB, "x@acme.example", HOUR), 50);
    load_ok("subscription beta mailbox=77\ndomain acme.example subscription=beta\n");
    cr_assert_str_eq(parent(DO, "acme.example"), "beta");
    cr_assert_str_eq(parent(SU, "beta"), "");
    cr_assert_eq(eff(MB, "x@acme.example", HOUR), 77);
    /* the domain's own values and its mailboxes stay */
    cr_assert_eq(lv(DO, "acme.example", DO, HOUR), 300);
    cr_assert_eq(lv(MB, "ceo@acme.example", MB, HOUR), 20);
    /* and back */
    load_ok(spec_example);
    cr_assert_str_eq(parent(DO, "acme.example"), "acme");
    cr_assert_eq(eff(MB, "x@acme.example", HOUR), 50);
}

Test(config, reload_moves_a_subscription_to_another_plan)
{
    load_ok(spec_example);
    cr_assert_eq(maillimit_mailbox_add(ml, "x@acme.example"), 0);
    load_ok("plan gold mailbox=7\nsubscription acme plan=gold\n");
    cr_assert_str_eq(parent(SU, "acme"), "gold");
    cr_assert_eq(eff(MB, "x@acme.example", HOUR), 7);
    /* from no plan into one */
    cr_assert_eq(maillimit_subscription_add(ml, "loose", NULL), 0);
    load_ok("subscription loose plan=gold\n");
    cr_assert_str_eq(parent(SU, "loose"), "gold");
}

Test(config, subscription_without_plan_keeps_its_placement)
{
    load_ok(spec_example);
    load_ok("subscription acme mailbox=9\nsubscription fresh\n");
    cr_assert_str_eq(parent(SU, "acme"), "basic");
    cr_assert_eq(lv(SU, "acme", MB, HOUR), 9);
    cr_assert_eq(lv(SU, "acme", SU, HOUR), UNL);
    cr_assert_str_eq(parent(SU, "fresh"), "");
}

Test(config, reload_repoints_a_system_user)
{
    load_ok(spec_example);
    load_ok("subscription beta\nsysuser ACME_web subscription=beta\n");
    cr_assert_str_eq(parent(SY, "acme_web"), "beta");
    load_ok("sysuser acme_web subscription=beta\n");
    cr_assert_str_eq(parent(SY, "acme_web"), "beta");
}

Test(config, values_the_file_does_not_set_stay)
{
    load_ok(spec_example);
    cr_assert_eq(maillimit_limit_set(ml, DO, "acme.example", MB, HOUR, 33), 0);
    cr_assert_eq(maillimit_flag_set(ml, SU, "acme", EXEMPT, 1), 0);
    cr_assert_eq(maillimit_limit_set(ml, SV, NULL, SV, HOUR, 5000), 0);
    cr_assert_eq(maillimit_plan_add(ml, "other"), 0);
    load_ok(spec_example);
    cr_assert_eq(lv(DO, "acme.example", MB, HOUR), 33);
    cr_assert_eq(fval(SU, "acme", EXEMPT), 1);
    cr_assert_eq(lv(SV, NULL, SV, HOUR), 5000);
    cr_assert(exists(PL, "other"));
    /* "default" puts a value back to inheriting */
    load_ok("domain acme.example subscription=acme mailbox=default\n");
    cr_assert_eq(lv(DO, "acme.example", MB, HOUR), DEF);
    cr_assert_eq(eff(MB, "news@acme.example", HOUR), 50);
}

Test(config, reload_never_touches_counters)
{
    const int64_t now = 1700000000;
    maillimit_verdict v;
    maillimit_status st;
    load_ok(spec_example);
    for (int i = 0; i < 5; i++) {
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        cr_assert_eq(maillimit_decide(ml, MB, "ceo@acme.example", 1, now, &v), 0);
        cr_assert_eq(v.decision, MAILLIMIT_ALLOW);
    }
    for (int i = 0; i < 3; i++) { /* an implicit mailbox */
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        cr_assert_eq(maillimit_decide(ml, MB, "x@acme.example", 1, now, &v), 0);
        cr_assert_eq(v.decision, MAILLIMIT_ALLOW);
    }
    struct maillimit__entity *x = maillimit__lookup(ml, MB, "x@acme.example");
    cr_assert(x != NULL);
    cr_assert_eq(atomic_load(&x->implicit), 1);

    load_ok(spec_example);
    load_ok("subscription beta\ndomain acme.example subscription=beta\n"
            "mailbox x@acme.example mailbox=4\nmailbox ceo@acme.example mailbox=6\n");
    cr_assert_eq(atomic_load(&x->implicit), 0);
    cr_assert(maillimit__lookup(ml, MB, "x@acme.example") == x);

    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, MB, "ceo@acme.example", HOUR, now, &st), 0);
    cr_assert_eq(st.count, 5);
    cr_assert_eq(st.limit, 6);
    cr_assert_eq(st.remaining, 1);
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, MB, "x@acme.example", HOUR, now, &st), 0);
    cr_assert_eq(st.count, 3);
    cr_assert_eq(st.limit, 4);
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, DO, "acme.example", HOUR, now, &st), 0);
    cr_assert_eq(st.count, 8);
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, SU, "acme", HOUR, now, &st), 0);
    cr_assert_eq(st.count, 8); /* what was counted there stays there */
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, SU, "beta", HOUR, now, &st), 0);
    cr_assert_eq(st.count, 0);
}

/* ---- every error, with its line, and nothing changed ---------------------------------------- */

Test(config, error_unknown_directive)
{
    fails_exactly("plna gold\n", 1,
                  "unknown directive \"plna\" (expected enable, unit, server, plan, "
                  "subscription, domain, mailbox, sysuser)");
}

Test(config, error_keywords_are_lower_case)
{
    fails("Plan p2\n", 1, "unknown directive \"Plan\"");
    fails("plan p2 Mailbox=5\n", 1, "unknown key \"Mailbox\" for plan");
    fails("plan p2 mailbox=Unlimited\n", 1, "bad value \"Unlimited\"");
    fails("\n\nplan p2 exempt=YES\n", 3, "bad value \"YES\" for key \"exempt\"");
}

Test(config, error_unknown_key)
{
    fails_exactly("domain d2.example subscription=acme mailbx=5\n", 1,
                  "unknown key \"mailbx\" for domain (expected subscription, domain, "
                  "domain.day, mailbox, mailbox.day, exempt)");
    fails("plan p2 mailbox.hour=5\n", 1, "unknown key \"mailbox.hour\" for plan");
    fails("plan p2 =5\n", 1, "unknown key \"\" for plan");
    fails("plan p2 fast\n", 1,
          "expected KEY=VALUE, got \"fast\" (plan keys: subscription, subscription.day, "
          "domain, domain.day, mailbox, mailbox.day, sendmail, exempt)");
}

Test(config, error_key_not_allowed_at_that_level)
{
    fails_exactly("\nmailbox a@acme.example domain=5\n", 2,
                  "key \"domain\" is not allowed for mailbox (expected mailbox, mailbox.day, "
                  "exempt)");
    fails("plan p2 server=5\n", 1, "key \"server\" is not allowed for plan");
    fails("plan p2 plan=basic\n", 1, "key \"plan\" is not allowed for plan");
    fails("subscription s2 server.day=5\n", 1, "key \"server.day\" is not allowed for "
                                               "subscription");
    fails("domain d2.example subscription=acme sendmail=yes\n", 1,
          "key \"sendmail\" is not allowed for domain");
    fails("domain d2.example subscription=acme subscription.day=5\n", 1,
          "key \"subscription.day\" is not allowed for domain");
    fails("mailbox a@acme.example sendmail=no\n", 1, "key \"sendmail\" is not allowed for "
                                                     "mailbox");
    fails("server exempt=yes\n", 1,
          "key \"exempt\" is not allowed for server (expected server, server.day, "
          "subscription, subscription.day, domain, domain.day, mailbox, mailbox.day, "
          "sendmail)");
    fails("server plan=basic\n", 1, "key \"plan\" is not allowed for server");
    fails("sysuser u2 subscription=acme mailbox=5\n", 1,
          "key \"mailbox\" is not allowed for sysuser (expected subscription)");
    fails_exactly("mailbox a@acme.example domain\n", 1,
                  "expected KEY=VALUE, got \"domain\" (mailbox keys: mailbox, mailbox.day, "
                  "exempt)");
    fails_exactly("mailbox a@acme.example exempt\n", 1,
                  "missing value for key \"exempt\" (write exempt=VALUE)");
}

Test(config, error_missing_value)
{
    fails_exactly("plan p2 mailbox=\n", 1, "missing value for key \"mailbox\"");
    fails_exactly("plan p2 mailbox\n", 1,
                  "missing value for key \"mailbox\" (write mailbox=VALUE)");
    fails("subscription s2 plan=\n", 1, "missing value for key \"plan\"");
    fails("domain d2.example subscription=\n", 1, "missing value for key \"subscription\"");
    fails("enable\n", 1, "enable: missing value (expected yes or no)");
    fails("unit # recipients\n", 1, "unit: missing value (expected messages or recipients)");
}

Test(config, error_bad_limit_values)
{
    static const char *bad[] = {"abc", "-1", "+1", "1.5", "1e3", "0x10", "12a", "-2",
                                "unlimitedx", "defaults", "=5", "5="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128], needle[128];
        snprintf(body, sizeof body, "plan p2 mailbox.day=%s\n", bad[i]);
        snprintf(needle, sizeof needle,
                 "bad value \"%s\" for key \"mailbox.day\" (expected a number, "
                 "\"unlimited\" or \"default\")", bad[i]);
        fails_exactly(body, 1, needle);
    }
    fails_exactly("server domain=abc\n", 1,
                  "bad value \"abc\" for key \"domain\" (expected a number or \"unlimited\")");
}

Test(config, error_limit_too_large)
{
    fails_exactly("plan p2 mailbox=9223372036854775808\n", 1,
                  "value \"9223372036854775808\" for key \"mailbox\" is too large (at most "
                  "9223372036854775807)");
    fails("plan p2 mailbox=99999999999999999999999999\n", 1, "is too large");
    fails("server server=18446744073709551616\n", 1, "is too large");
}

Test(config, error_default_on_the_server)
{
    fails("server domain=default\n", 1,
          "\"default\" is not allowed for key \"domain\" on the server line");
    fails("server server.day=default\n", 1,
          "\"default\" is not allowed for key \"server.day\" on the server line");
    fails("server sendmail=default\n", 1,
          "\"default\" is not allowed for key \"sendmail\" on the server line");
}

Test(config, error_bad_flag_values)
{
    fails_exactly("plan p2 exempt=maybe\n", 1,
                  "bad value \"maybe\" for key \"exempt\" (expected yes, no or default)");
    fails_exactly("server sendmail=2\n", 1,
                  "bad value \"2\" for key \"sendmail\" (expected yes, no)");
    fails("mailbox a@acme.example exempt=unlimited\n", 1, "bad value \"unlimited\"");
    fails("subscription s2 sendmail=5\n", 1, "bad value \"5\" for key \"sendmail\"");
}

Test(config, error_switch_and_unit_values)
{
    fails_exactly("enable maybe\n", 1, "enable: bad value \"maybe\" (expected yes or no)");
    fails_exactly("enable default\n", 1, "enable: bad value \"default\" (expected yes or no)");
    fails_exactly("enable yes please\n", 1, "enable: unexpected \"please\" after the value");
    fails_exactly("unit letters\n", 1,
                  "unit: bad value \"letters\" (expected messages or recipients)");
    fails("unit messages recipients\n", 1, "unit: unexpected \"recipients\"");
}

Test(config, error_duplicate_key_on_a_line)
{
    fails_exactly("plan p2 mailbox=1 domain=2 mailbox=1\n", 1, "duplicate key \"mailbox\"");
    fails("subscription s2 plan=basic plan=basic\n", 1, "duplicate key \"plan\"");
    fails("domain d2.example subscription=acme subscription=acme\n", 1,
          "duplicate key \"subscription\"");
    fails("server domain=1 domain=1\n", 1, "duplicate key \"domain\"");
    fails("mailbox a@acme.example exempt=yes exempt=no\n", 1, "duplicate key \"exempt\"");
}

Test(config, error_setting_twice_in_a_file)
{
    fails_exactly("enable no\n", 1, "enable is already set on line 1");
    fails_exactly("unit recipients\n", 1, "unit is already set on line 2");
    fails_exactly("server domain=5 mailbox=2\n", 1,
                  "server key \"mailbox\" is already set on line 3");
}

Test(config, error_missing_required_subscription)
{
    fails_exactly("domain d2.example domain=5\n", 1,
                  "domain \"d2.example\": missing subscription=SUBSCRIPTION (the subscription "
                  "it belongs to)");
    fails_exactly("sysuser u2\n", 1,
                  "sysuser \"u2\": missing subscription=SUBSCRIPTION (the subscription it "
                  "belongs to)");
}

Test(config, error_missing_name)
{
    fails_exactly("plan\n", 1, "plan: missing name");
    fails_exactly("subscription   # acme\n", 1, "subscription: missing name");
    fails_exactly("mailbox\n", 1, "mailbox: missing name");
    fails_exactly("sysuser\n", 1, "sysuser: missing name");
    fails_exactly("domain subscription=acme\n", 1,
                  "domain: missing name before \"subscription=acme\"");
    fails_exactly("plan mailbox=5\n", 1, "plan: missing name before \"mailbox=5\"");
}

Test(config, error_invalid_names)
{
    fails_exactly("mailbox noat.example\n", 1,
                  "invalid mailbox name \"noat.example\": an address must be local@domain "
                  "with exactly one '@'");
    fails("mailbox a@b@acme.example\n", 1, "invalid mailbox name \"a@b@acme.example\"");
    fails("mailbox @acme.example\n", 1, "invalid mailbox name \"@acme.example\"");
    fails("mailbox a@\n", 1, "invalid mailbox name \"a@\"");
    fails_exactly("domain a@b subscription=acme\n", 1,
                  "invalid domain name \"a@b\": a domain name cannot contain '@'");
    fails_exactly("plan a\x01z\n", 1,
                  "invalid plan name \"a\\x01z\": name contains a control character");
    fails("plan a\rb\n", 1, "invalid plan name \"a\\x0db\"");
    fails("subscription s2 plan=bad\x7fname\n", 1, "invalid plan name \"bad\\x7fname\"");
    fails("domain d2.example subscription=x\x1f\n", 1, "invalid subscription name \"x\\x1f\"");
    fails("sysuser u2 subscription=a\x02\n", 1, "invalid subscription name \"a\\x02\"");

    char body[400];
    strcpy(body, "plan ");
    memset(body + 5, 'n', 321);
    strcpy(body + 5 + 321, " mailbox=1\n");
    /* the quoted name is cut after 64 bytes */
    char needle[200];
    snprintf(needle, sizeof needle, "invalid plan name \"%.64s\"...: name is longer than 320 "
                                    "bytes", body + 5);
    fails_exactly(body, 1, needle);
}

Test(config, error_references_that_do_not_exist)
{
    fails_exactly("subscription s2 plan=gold\n", 1,
                  "subscription \"s2\": plan \"gold\" does not exist");
    fails_exactly("domain d2.example subscription=nosuch\n", 1,
                  "domain \"d2.example\": subscription \"nosuch\" does not exist");
    fails_exactly("sysuser u2 subscription=nosuch\n", 1,
                  "sysuser \"u2\": subscription \"nosuch\" does not exist");
    fails_exactly("mailbox a@nowhere.example mailbox=1\n", 1,
                  "mailbox \"a@nowhere.example\": domain \"nowhere.example\" does not exist");
    /* a plan's name is not a subscription's */
    fails("domain d2.example subscription=basic\n", 1, "subscription \"basic\" does not exist");
}

Test(config, error_references_to_later_lines)
{
    fails("subscription s2 plan=gold\nplan gold\n", 1, "plan \"gold\" does not exist");
    fails("domain d2.example subscription=s2\nsubscription s2\n", 1,
          "subscription \"s2\" does not exist");
    fails("mailbox a@d2.example\ndomain d2.example subscription=acme\n", 1,
          "domain \"d2.example\" does not exist");
    fails("sysuser u2 subscription=s2\nsubscription s2\n", 1,
          "subscription \"s2\" does not exist");
}

Test(config, error_entity_defined_twice)
{
    fails_exactly("plan p2\n\nplan P2 mailbox=1\n", 3, "plan \"P2\" is already defined on line 9");
    fails_exactly("plan tmp\n", 1, "plan \"tmp\" is already defined on line 4");
    fails_exactly("subscription Beta\n", 1,
                  "subscription \"Beta\" is already defined on line 5");
    fails_exactly("domain ACME.example subscription=acme\n", 1,
                  "domain \"ACME.example\" is already defined on line 6");
    fails_exactly("mailbox CEO@acme.example\n", 1,
                  "mailbox \"CEO@acme.example\" is already defined on line 8");
    fails_exactly("sysuser acme_web subscription=acme\n", 1,
                  "sysuser \"acme_web\" is already defined on line 7");
}

Test(config, error_hash_inside_a_token_is_not_a_comment)
{
    fails_exactly("plan p2 mailbox=20#x\n", 1,
                  "bad value \"20#x\" for key \"mailbox\" (expected a number, \"unlimited\" "
                  "or \"default\")");
}

Test(config, error_line_too_long)
{
    char body[4200];
    memset(body, 'x', 4097);
    memcpy(body, "# ", 2);
    strcpy(body + 4097, "\n");
    fails_exactly(body, 1, "line is longer than 4096 bytes");
    /* the \r of \r\n does not count, another \r does */
    memset(body, ' ', 4097);
    memcpy(body, "plan p2", 7);
    strcpy(body + 4097, "\r\n");
    fails_exactly(body, 1, "line is longer than 4096 bytes");
    strcpy(body, "plan p2\n");
    memset(body + 8, ' ', 4096);
    strcpy(body + 8 + 4096, "\r\r\n");
    fails_exactly(body, 2, "line is longer than 4096 bytes");
}

Test(config, error_nul_byte)
{
    static const char body[] = "plan p2\n# a comment\0with a NUL\nplan p3\n";
    fails_len(body, sizeof body - 1, 2, "NUL byte in the line");
    static const char body2[] = "\0";
    fails_len(body2, 1, 1, "NUL byte in the line");
}

Test(config, error_on_a_last_line_without_newline_and_after_crlf)
{
    fails("plan p2 mailbox=x", 1, "bad value \"x\"");
    fails("plan a\r\nplan b\r\nbogus\r\n", 3, "unknown directive \"bogus\"");
    fails("plan a\r\n\r\n\r\nplan b mailbox=\r\n", 4, "missing value for key \"mailbox\"");
}

Test(config, error_after_many_good_lines_changes_nothing)
{
    /* the error is on the last line; everything before it would have been valid */
    char *body = malloc(64 * 1000 + 64);
    cr_assert(body != NULL);
    body[0] = '\0';
    size_t o = 0;
    for (int i = 0; i < 1000; i++)
        o += (size_t)sprintf(body + o, "plan gen%d mailbox=%d\n", i, i);
    strcpy(body + o, "plan gen0\n");
    fails(body, 1001, "plan \"gen0\" is already defined on line 9");
    free(body);
    cr_assert(!exists(PL, "gen5"));
}

/* ---- the caller's buffer, arguments, files --------------------------------------------------- */

Test(config, error_buffer_is_optional_and_bounded)
{
    cr_assert_eq(maillimit_config_load_mem(ml, "bogus\n", 6, NULL, 0), MAILLIMIT_EFORMAT);
    cr_assert_eq(maillimit_config_load_mem(ml, "bogus\n", 6, NULL, 100), MAILLIMIT_EFORMAT);
    char small[16];
    memset(small, 'Z', sizeof small);
    cr_assert_eq(maillimit_config_load_mem(ml, "bogus\n", 6, small, 12), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(small, "<memory>:1:");
    cr_assert_eq(small[12], 'Z');
    /* success clears it */
    strcpy(err, "old message");
    cr_assert_eq(maillimit_config_load_mem(ml, "plan p\n", 7, err, sizeof err), 0);
    cr_assert_str_eq(err, "");
}

Test(config, only_len_bytes_are_read)
{
    /* the text need not be NUL-terminated: the error is past len */
    const char text[] = "plan p mailbox=5\nbogus";
    cr_assert_eq(maillimit_config_load_mem(ml, text, 17, err, sizeof err), 0);
    cr_assert_eq(lv(PL, "p", MB, HOUR), 5);
    /* a cut in the middle of a token */
    cr_assert_eq(maillimit_config_load_mem(ml, "plan q mailbox=12345", 16, err, sizeof err),
                 0);
    cr_assert_eq(lv(PL, "q", MB, HOUR), 1);
}

Test(config, invalid_arguments)
{
    cr_assert_eq(maillimit_config_load_mem(NULL, "plan p\n", 7, err, sizeof err),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_config_load_mem(ml, NULL, 0, err, sizeof err), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_config_load_mem(ml, NULL, 5, err, sizeof err), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_config_load(NULL, "/dev/null", err, sizeof err), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_config_load(ml, NULL, err, sizeof err), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_config_load(ml, NULL, NULL, 0), MAILLIMIT_EINVAL);
}

Test(config, text_over_64_mib_is_refused)
{
    size_t n = ((size_t)64 << 20) + 1;
    char *big = calloc(1, n); /* never touched: refused by its length */
    cr_assert(big != NULL);
    cr_assert_eq(maillimit_config_load_mem(ml, big, n, err, sizeof err), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "<memory>: text is larger than 64 MiB");
    free(big);
}

static void temp_file(char *path, const char *content, size_t len)
{
    strcpy(path, "/tmp/maillimit-test-config-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    cr_assert_eq(close(fd), 0);
}

Test(config, load_from_a_file)
{
    char path[64];
    temp_file(path, spec_example, strlen(spec_example));
    strcpy(err, "old");
    int rc = maillimit_config_load(ml, path, err, sizeof err);
    cr_assert_eq(rc, 0, "%d %s", rc, err);
    cr_assert_str_eq(err, "");
    cr_assert_eq(eff(MB, "ceo@acme.example", HOUR), 20);
    cr_assert_str_eq(parent(SY, "acme_web"), "acme");
    unlink(path);
}

Test(config, file_errors_name_the_file_and_line)
{
    char path[64], want[200];
    const char text[] = "plan p\nplan q mailbox=1\nmailbox a@nowhere.example\n";
    temp_file(path, text, sizeof text - 1);
    cr_assert_eq(maillimit_config_load(ml, path, err, sizeof err), MAILLIMIT_EFORMAT);
    snprintf(want, sizeof want,
             "%s:3: mailbox \"a@nowhere.example\": domain \"nowhere.example\" does not exist",
             path);
    cr_assert_str_eq(err, want);
    cr_assert(!exists(PL, "p"));
    cr_assert(!exists(PL, "q"));
    unlink(path);
}

Test(config, missing_or_unreadable_file_is_eio)
{
    const char *path = "/tmp/maillimit-test-config-does-not-exist/x.conf";
    cr_assert_eq(maillimit_config_load(ml, path, err, sizeof err), MAILLIMIT_EIO);
    char want[200];
    snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
    cr_assert_str_eq(err, want);
    cr_assert_eq(maillimit_config_load(ml, "/tmp", err, sizeof err), MAILLIMIT_EIO);
    snprintf(want, sizeof want, "/tmp: %s", strerror(EISDIR));
    cr_assert_str_eq(err, want);
    cr_assert_eq(maillimit_config_load(ml, path, NULL, 0), MAILLIMIT_EIO);
}

Test(config, file_over_64_mib_is_refused)
{
    char path[64];
    temp_file(path, "", 0);
    int fd = open(path, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, ((off_t)64 << 20) + 1), 0); /* sparse */
    close(fd);
    cr_assert_eq(maillimit_config_load(ml, path, err, sizeof err), MAILLIMIT_EFORMAT);
    char want[200];
    snprintf(want, sizeof want, "%s: file is larger than 64 MiB", path);
    cr_assert_str_eq(err, want);
    unlink(path);
}

Test(config, empty_file_and_dev_null)
{
    char path[64];
    temp_file(path, "", 0);
    cr_assert_eq(maillimit_config_load(ml, path, err, sizeof err), 0);
    unlink(path);
    cr_assert_eq(maillimit_config_load(ml, "/dev/null", err, sizeof err), 0);
}

struct pipe_writer {
    int fd;
    const char *text;
    size_t len;
};

static void *write_all(void *arg)
{
    struct pipe_writer *w = arg;
    for (size_t o = 0; o < w->len;) {
        ssize_t r = write(w->fd, w->text + o, w->len - o);
        if (r <= 0)
            break;
        o += (size_t)r;
    }
    close(w->fd);
    return NULL;
}

Test(config, load_from_a_pipe_larger_than_the_first_read)
{
    /* not a regular file: the reader grows its buffer (100 KB > the first 64 KiB) */
    size_t len = 100 * 1024;
    char *text = malloc(len);
    cr_assert(text != NULL);
    memset(text, '#', len);
    for (size_t i = 99; i < len; i += 100)
        text[i] = '\n';
    const char tail[] = "\nplan piped mailbox=11\n";
    memcpy(text + len - sizeof tail + 1, tail, sizeof tail - 1);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct pipe_writer w = {fds[1], text, len};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, write_all, &w), 0);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    int rc = maillimit_config_load(ml, path, err, sizeof err);
    pthread_join(t, NULL);
    close(fds[0]);
    free(text);
    cr_assert_eq(rc, 0, "%d %s", rc, err);
    cr_assert_eq(lv(PL, "piped", MB, HOUR), 11);
}

Test(config, endless_device_is_refused_after_64_mib)
{
    cr_assert_eq(maillimit_config_load(ml, "/dev/zero", err, sizeof err), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "/dev/zero: file is larger than 64 MiB");
}

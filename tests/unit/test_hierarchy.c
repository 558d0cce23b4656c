/* SPDX-License-Identifier: MIT */
/* Hierarchy: names, adds, placements, system users, removal, moves, argument checking.
 * Every expectation is hand-computed from SPEC.md §1, §4.1 and include/maillimit.h. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <maillimit.h>

#include "fixture.h"

/* The fixture: plans basic and pro; acme (plan basic) with acme.example {a, b} and
 * shop.example {s}, system user acme_web; beta (no plan) with beta.example {c}. */
static maillimit *fixture(void)
{
    return fixture_from("plan basic\n"
                        "plan pro\n"
                        "subscription acme plan=basic\n"
                        "subscription beta\n"
                        "domain acme.example subscription=acme\n"
                        "domain shop.example subscription=acme\n"
                        "domain beta.example subscription=beta\n"
                        "mailbox a@acme.example\n"
                        "mailbox b@acme.example\n"
                        "mailbox s@shop.example\n"
                        "mailbox c@beta.example\n"
                        "sysuser acme_web subscription=acme\n");
}

static int status_rc(maillimit *ml, int level, const char *name)
{
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    return maillimit_status_get(ml, level, name, MAILLIMIT_WINDOW_HOUR, T, &s);
}

static int64_t limit_of(maillimit *ml, int level, const char *name)
{
    int64_t v = 12345;
    OK(maillimit_limit_effective(ml, level, name, MAILLIMIT_WINDOW_HOUR, &v));
    return v;
}

/* A domain name of exactly n bytes: labels of 60 'x' separated by dots. */
static void make_domain(char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (i % 61 == 60) ? '.' : 'x';
    buf[n] = '\0';
}

/* ---- names ------------------------------------------------------------------------------ */

Test(hierarchy, names_are_case_insensitive)
{
    maillimit *ml = fixture();
    /* Same entities, other case: same placement, so 0. */
    OK(maillimit_plan_add(ml, "BASIC"));
    OK(maillimit_subscription_add(ml, "ACME", "Basic"));
    OK(maillimit_domain_add(ml, "Acme.EXAMPLE", "aCmE"));
    OK(maillimit_mailbox_add(ml, "A@ACME.example"));
    OK(maillimit_sysuser_add(ml, "ACME_Web", "ACME"));
    /* Other placement in other case is still the same entity. */
    EQ(maillimit_subscription_add(ml, "ACME", "PRO"), MAILLIMIT_EEXISTS);
    EQ(maillimit_domain_add(ml, "ACME.EXAMPLE", "BETA"), MAILLIMIT_EEXISTS);

    maillimit_verdict v = dec(ml, MAILLIMIT_LEVEL_MAILBOX, "A@Acme.Example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_NONE);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "a@ACME.EXAMPLE", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "ACME.example", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "Acme", MAILLIMIT_WINDOW_HOUR, T), 1);

    /* A limit set through one spelling is seen through another. */
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "Basic", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 5));
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "A@acme.EXAMPLE"), 5);
    maillimit_free(ml);
}

Test(hierarchy, name_of_320_bytes_ok_321_einval)
{
    maillimit *ml = fixture();
    char n320[321], n321[322], d318[319], d319[320], d320[321], d321[322];
    char a320[321], a321[322];
    memset(n320, 'p', 320);
    n320[320] = '\0';
    memset(n321, 'q', 321);
    n321[321] = '\0';
    make_domain(d318, 318);
    make_domain(d319, 319);
    make_domain(d320, 320);
    make_domain(d321, 321);
    cr_assert(strlen(n320) == 320 && strlen(n321) == 321);
    cr_assert(strlen(d320) == 320 && strlen(d321) == 321);

    OK(maillimit_plan_add(ml, n320));
    EQ(maillimit_plan_add(ml, n321), MAILLIMIT_EINVAL);
    OK(maillimit_subscription_add(ml, n320, NULL));
    EQ(maillimit_subscription_add(ml, n321, NULL), MAILLIMIT_EINVAL);
    OK(maillimit_sysuser_add(ml, n320, "acme"));
    n321[0] = 'r';
    EQ(maillimit_sysuser_add(ml, n321, "acme"), MAILLIMIT_EINVAL);

    OK(maillimit_domain_add(ml, d320, "beta"));
    EQ(maillimit_domain_add(ml, d321, "beta"), MAILLIMIT_EINVAL);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, d320), MAILLIMIT_OK);

    /* Addresses: "u@" + 318 = 320 bytes is fine, "u@" + 319 = 321 is not. */
    OK(maillimit_domain_add(ml, d318, "beta"));
    OK(maillimit_domain_add(ml, d319, "beta"));
    snprintf(a320, sizeof a320, "u@%s", d318);
    snprintf(a321, sizeof a321, "u@%s", d319);
    cr_assert(strlen(a320) == 320 && strlen(a321) == 321);
    OK(maillimit_mailbox_add(ml, a320));
    EQ(maillimit_mailbox_add(ml, a321), MAILLIMIT_EINVAL);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, a321, 1, T, &v), MAILLIMIT_EINVAL);
    v = dec(ml, MAILLIMIT_LEVEL_MAILBOX, a320, 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_NONE);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, a320, MAILLIMIT_WINDOW_HOUR, T), 1);
    maillimit_free(ml);
}

Test(hierarchy, empty_and_null_names_einval)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    EQ(maillimit_plan_add(ml, ""), MAILLIMIT_EINVAL);
    EQ(maillimit_subscription_add(ml, "", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_add(ml, "", "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, ""), MAILLIMIT_EINVAL);
    EQ(maillimit_sysuser_add(ml, "", "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_plan_add(ml, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_subscription_add(ml, NULL, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_add(ml, NULL, "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_add(ml, "x.example", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_sysuser_add(ml, NULL, "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_sysuser_add(ml, "web2", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "", 1, T, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_DOMAIN, "", 1, T, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "", 1, T, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, NULL, 1, T, &v), MAILLIMIT_EINVAL);
    /* Nothing was counted by the rejected calls. */
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 0);
    maillimit_free(ml);
}

Test(hierarchy, spaces_einval)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    EQ(maillimit_plan_add(ml, "gold plan"), MAILLIMIT_EINVAL);
    EQ(maillimit_subscription_add(ml, " lead", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_subscription_add(ml, "trail ", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_add(ml, "my site.example", "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, "john doe@acme.example"), MAILLIMIT_EINVAL);
    EQ(maillimit_sysuser_add(ml, "web user", "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "a @acme.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example ", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 0);
    maillimit_free(ml);
}

Test(hierarchy, control_characters_einval)
{
    maillimit *ml = fixture();
    static const char *const bad[] = {"\x01", "\t", "\n", "\r", "\x1b", "\x1f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char plan[32], dom[32], addr[48], login[32];
        snprintf(plan, sizeof plan, "p%sq", bad[i]);
        snprintf(dom, sizeof dom, "x%sy.example", bad[i]);
        snprintf(addr, sizeof addr, "u%sv@acme.example", bad[i]);
        snprintf(login, sizeof login, "web%s", bad[i]);
        EQ(maillimit_plan_add(ml, plan), MAILLIMIT_EINVAL);
        EQ(maillimit_subscription_add(ml, plan, NULL), MAILLIMIT_EINVAL);
        EQ(maillimit_domain_add(ml, dom, "acme"), MAILLIMIT_EINVAL);
        EQ(maillimit_mailbox_add(ml, addr), MAILLIMIT_EINVAL);
        EQ(maillimit_sysuser_add(ml, login, "acme"), MAILLIMIT_EINVAL);
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, addr, 1, T, &v), MAILLIMIT_EINVAL);
    }
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 0);
    maillimit_free(ml);
}

/* DEL (0x7f) is a control character (C iscntrl, Unicode Cc). */
Test(hierarchy, del_character_einval)
{
    maillimit *ml = fixture();
    EQ(maillimit_plan_add(ml, "p\x7fq"), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_add(ml, "x\x7f.example", "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, "u\x7f@acme.example"), MAILLIMIT_EINVAL);
    maillimit_free(ml);
}

Test(hierarchy, address_needs_exactly_one_at)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    EQ(maillimit_mailbox_add(ml, "noat.acme.example"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, "a@b@acme.example"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, "@acme.example"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, "a@"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(ml, "@"), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "acme.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "x@y@acme.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(maillimit_reserve(ml, MAILLIMIT_LEVEL_MAILBOX, "x@y@acme.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 0);
    maillimit_free(ml);
}

Test(hierarchy, bytes_above_0x7f_allowed_and_compared_bytewise)
{
    maillimit *ml = fixture();
    /* "bücher.example", "jörg@bücher.example" in UTF-8. */
    OK(maillimit_domain_add(ml, "b\xc3\xbc" "cher.example", "beta"));
    OK(maillimit_mailbox_add(ml, "j\xc3\xb6rg@b\xc3\xbc" "cher.example"));
    /* ASCII letters fold; the bytes of 'ü' do not change. */
    OK(maillimit_domain_add(ml, "B\xc3\xbc" "CHER.EXAMPLE", "beta"));
    EQ(maillimit_domain_add(ml, "B\xc3\xbc" "CHER.EXAMPLE", "acme"), MAILLIMIT_EEXISTS);
    /* "BÜCHER.example" (Ü = c3 9c) is another name: its domain does not exist. */
    EQ(maillimit_mailbox_add(ml, "j\xc3\xb6rg@B\xc3\x9c" "CHER.example"), MAILLIMIT_ENOTFOUND);
    OK(maillimit_domain_add(ml, "B\xc3\x9c" "CHER.example", "acme"));

    maillimit_verdict v =
        dec(ml, MAILLIMIT_LEVEL_MAILBOX, "J\xc3\xb6RG@B\xc3\xbc" "cher.Example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_NONE);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "j\xc3\xb6rg@b\xc3\xbc" "cher.example",
           MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "b\xc3\x9c" "cher.example", MAILLIMIT_WINDOW_HOUR, T), 0);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T), 1);

    /* Any byte >= 0x80, not only valid UTF-8. */
    OK(maillimit_domain_add(ml, "\xff\xfe\x80.example", "beta"));
    OK(maillimit_plan_add(ml, "pl\xe4n"));
    maillimit_free(ml);
}

/* ---- adding ----------------------------------------------------------------------------- */

Test(hierarchy, add_with_missing_parent_enotfound)
{
    maillimit *ml = fixture();
    EQ(maillimit_subscription_add(ml, "gamma", "noplan"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_domain_add(ml, "gamma.example", "nosub"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_mailbox_add(ml, "u@nodomain.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_sysuser_add(ml, "gamma_web", "nosub"), MAILLIMIT_ENOTFOUND);
    /* Nothing was created. */
    EQ(status_rc(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "gamma"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "gamma.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "u@nodomain.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_sysuser_remove(ml, "gamma_web"), MAILLIMIT_ENOTFOUND);
    maillimit_free(ml);
}

Test(hierarchy, readd_same_placement_is_noop)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 3));
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_LEVEL_DOMAIN,
                           MAILLIMIT_WINDOW_HOUR, 30));
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 2, T);

    OK(maillimit_plan_add(ml, "basic"));
    OK(maillimit_subscription_add(ml, "acme", "basic"));
    OK(maillimit_subscription_add(ml, "beta", NULL));
    OK(maillimit_domain_add(ml, "acme.example", "acme"));
    OK(maillimit_mailbox_add(ml, "a@acme.example"));
    OK(maillimit_sysuser_add(ml, "acme_web", "acme"));

    /* Counters and limits survive. */
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_WINDOW_HOUR, T), 2);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_WINDOW_HOUR, T), 2);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 2);
    int64_t val = 0;
    OK(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example",
                             MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_HOUR, &val));
    EQ(val, 3);
    EQ(limit_of(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 30);
    maillimit_free(ml);
}

Test(hierarchy, readd_other_placement_eexists)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 5));
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "pro", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 7));
    EQ(maillimit_subscription_add(ml, "acme", "pro"), MAILLIMIT_EEXISTS);
    EQ(maillimit_subscription_add(ml, "acme", NULL), MAILLIMIT_EEXISTS);
    EQ(maillimit_subscription_add(ml, "beta", "basic"), MAILLIMIT_EEXISTS);
    EQ(maillimit_domain_add(ml, "acme.example", "beta"), MAILLIMIT_EEXISTS);
    EQ(maillimit_sysuser_add(ml, "acme_web", "beta"), MAILLIMIT_EEXISTS);
    /* Placements unchanged. */
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 5);
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "c@beta.example"), MAILLIMIT_UNLIMITED);
    dec(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme_web", 1, T);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T), 0);
    dec(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", 1, T);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 2);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T), 0);
    maillimit_free(ml);
}

/* ---- system users ----------------------------------------------------------------------- */

Test(hierarchy, sysuser_is_an_alias_of_its_subscription)
{
    maillimit *ml = fixture();
    maillimit_verdict v = dec(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "ACME_web", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_NONE);
    EQ(v.count, 0);
    v = dec(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme_web", 2, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.count, 1); /* the subscription's own hourly counter before this request */
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 3);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 3);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_WINDOW_HOUR, T), 0);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T), 0);

    /* Removing the alias makes the login unknown. */
    OK(maillimit_sysuser_remove(ml, "Acme_Web"));
    EQ(maillimit_sysuser_remove(ml, "acme_web"), MAILLIMIT_ENOTFOUND);
    v = dec(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme_web", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 3);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 4);
    /* It may now be added elsewhere. */
    OK(maillimit_sysuser_add(ml, "acme_web", "beta"));
    dec(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme_web", 1, T);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T), 1);
    maillimit_free(ml);
}

/* ---- removing --------------------------------------------------------------------------- */

Test(hierarchy, remove_domain_removes_its_mailboxes)
{
    maillimit *ml = fixture();
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "Acme.Example"));
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "b@acme.example"), MAILLIMIT_ENOTFOUND);
    int64_t lim = 0;
    EQ(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example",
                                 MAILLIMIT_WINDOW_HOUR,
                           &lim), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_set(ml, MAILLIMIT_LEVEL_MAILBOX, "b@acme.example",
                           MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_HOUR, 1),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_reset(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_mailbox_add(ml, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    /* Its former mailboxes are now unknown senders. */
    maillimit_verdict v = dec(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 0);
    /* Siblings are untouched. */
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "shop.example"), MAILLIMIT_OK);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example"), MAILLIMIT_OK);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), MAILLIMIT_OK);
    maillimit_free(ml);
}

Test(hierarchy, remove_domain_removes_its_implicit_mailboxes)
{
    maillimit *ml = fixture();
    maillimit_verdict v = dec(ml, MAILLIMIT_LEVEL_MAILBOX, "new@acme.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "new@acme.example"), MAILLIMIT_OK);
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"));
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "new@acme.example"), MAILLIMIT_ENOTFOUND);
    OK(maillimit_domain_add(ml, "acme.example", "beta"));
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "new@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    /* A new implicit mailbox, counted in the new domain's subscription. */
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "new@acme.example", 1, T);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "new@acme.example", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 1);
    maillimit_free(ml);
}

Test(hierarchy, remove_subscription_removes_domains_mailboxes_sysusers)
{
    maillimit *ml = fixture();
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"));
    EQ(status_rc(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "shop.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_sysuser_remove(ml, "acme_web"), MAILLIMIT_ENOTFOUND);
    maillimit_verdict v = dec(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme_web", 1, T);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    v = dec(ml, MAILLIMIT_LEVEL_DOMAIN, "shop.example", 1, T);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    OK(maillimit_sysuser_add(ml, "acme_web", "beta"));
    OK(maillimit_domain_add(ml, "shop.example", "beta"));
    /* The plan stays; beta is untouched. */
    int64_t val = 0;
    OK(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                             MAILLIMIT_WINDOW_HOUR, &val));
    EQ(val, MAILLIMIT_DEFAULT);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "c@beta.example"), MAILLIMIT_OK);
    maillimit_free(ml);
}

Test(hierarchy, remove_plan_detaches_its_subscriptions)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 100));
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 50));
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 50);
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T);

    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_PLAN, "basic"));
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_PLAN, "basic"), MAILLIMIT_ENOTFOUND);
    int64_t val = 0;
    EQ(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                             MAILLIMIT_WINDOW_HOUR, &val), MAILLIMIT_ENOTFOUND);
    /* The subscription, its domains, mailboxes and counts are still there. */
    EQ(status_rc(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), MAILLIMIT_OK);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 1);
    /* Now in no plan: inherits from the server; re-adding with NULL plan is the same
     * placement. */
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 100);
    OK(maillimit_subscription_add(ml, "acme", NULL));
    /* A new plan of the same name does not re-attach it. */
    OK(maillimit_plan_add(ml, "basic"));
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 7));
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 100);
    EQ(maillimit_subscription_add(ml, "acme", "basic"), MAILLIMIT_EEXISTS);
    maillimit_free(ml);
}

Test(hierarchy, removed_units_stay_in_ancestors)
{
    maillimit *ml = fixture();
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 2, T);
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "b@acme.example", 1, T + 60);
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example", 1, T + 120);
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "c@beta.example", 5, T + 120);
    /* mailbox a 2, b 1; acme.example 3; shop.example 1; acme 4; beta 5; server 9 */

    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"));
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "b@acme.example", MAILLIMIT_WINDOW_HOUR, T + 180), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_WINDOW_HOUR, T + 180), 3);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T + 180), 4);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T + 180), 9);

    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"));
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T + 180), 4);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_DAY, T + 180), 4);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T + 180), 9);

    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"));
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T + 180), 9);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_DAY, T + 180), 9);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T + 180), 5);
    /* and they leave the window like any other units: 2 at minute T, 1 at T+60, 6 at T+120 */
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T + 3600), 7);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T + 3660), 6);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T + 3720), 0);
    maillimit_free(ml);
}

Test(hierarchy, removed_entity_readded_starts_empty)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 1));
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T);
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"));
    OK(maillimit_mailbox_add(ml, "a@acme.example"));
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_WINDOW_HOUR, T), 0);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_WINDOW_DAY, T), 0);
    int64_t val = 0;
    OK(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example",
                             MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_HOUR, &val));
    EQ(val, MAILLIMIT_DEFAULT);
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_UNLIMITED);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_WINDOW_HOUR, T), 1);
    maillimit_verdict v = dec(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.count, 0);
    maillimit_free(ml);
}

/* Removal follows the placement as it is now: what moved away stays, what moved in goes. */
Test(hierarchy, remove_follows_moves)
{
    maillimit *ml = fixture();
    OK(maillimit_domain_move(ml, "shop.example", "beta"));   /* acme -> beta */
    OK(maillimit_sysuser_move(ml, "acme_web", "beta"));
    OK(maillimit_sysuser_add(ml, "beta_cron", "acme"));
    OK(maillimit_sysuser_move(ml, "beta_cron", "beta"));
    OK(maillimit_domain_move(ml, "beta.example", "acme"));   /* beta -> acme */
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"));
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "beta.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "c@beta.example"), MAILLIMIT_ENOTFOUND);
    OK(status_rc(ml, MAILLIMIT_LEVEL_DOMAIN, "shop.example"));
    OK(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example"));
    EQ(maillimit_sysuser_move(ml, "acme_web", "beta"), 0);   /* still there */
    EQ(maillimit_sysuser_move(ml, "beta_cron", "beta"), 0);
    /* a plan removed after its subscriptions moved: only the current members detach */
    OK(maillimit_plan_add(ml, "gold"));
    OK(maillimit_subscription_plan_set(ml, "beta", "gold"));
    OK(maillimit_subscription_plan_set(ml, "beta", "pro"));
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_PLAN, "gold"));
    int64_t v = 0;
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "pro", MAILLIMIT_LEVEL_SUBSCRIPTION,
                           MAILLIMIT_WINDOW_HOUR, 77));
    OK(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR,
                                 &v));
    EQ(v, 77); /* still in pro */
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta"));
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_sysuser_move(ml, "acme_web", "beta"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_sysuser_remove(ml, "beta_cron"), MAILLIMIT_ENOTFOUND);
    maillimit_free(ml);
}

/* A loaded snapshot's subtrees are removable as the original's were. */
Test(hierarchy, remove_after_snapshot_load)
{
    maillimit *ml = fixture(), *copy = NULL;
    void *buf = NULL;
    size_t len = 0;
    OK(maillimit_snapshot_save_mem(ml, &buf, &len, NULL, 0));
    OK(maillimit_new(&copy));
    OK(maillimit_snapshot_load_mem(copy, buf, len, NULL, 0));
    maillimit_buffer_free(buf);
    OK(maillimit_remove(copy, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"));
    EQ(status_rc(copy, MAILLIMIT_LEVEL_DOMAIN, "shop.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(copy, MAILLIMIT_LEVEL_MAILBOX, "b@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_sysuser_remove(copy, "acme_web"), MAILLIMIT_ENOTFOUND);
    OK(status_rc(copy, MAILLIMIT_LEVEL_MAILBOX, "c@beta.example"));
    OK(maillimit_remove(copy, MAILLIMIT_LEVEL_PLAN, "basic"));
    OK(maillimit_remove(copy, MAILLIMIT_LEVEL_DOMAIN, "beta.example"));
    EQ(status_rc(copy, MAILLIMIT_LEVEL_MAILBOX, "c@beta.example"), MAILLIMIT_ENOTFOUND);
    maillimit_free(copy);
    maillimit_free(ml);
}

Test(hierarchy, remove_bad_level_or_missing)
{
    maillimit *ml = fixture();
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_SERVER, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_SERVER, "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_remove(ml, -1, "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_remove(ml, 5, "acme"), MAILLIMIT_EINVAL);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "nosub"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_PLAN, "noplan"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "no.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, "zz@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), MAILLIMIT_OK);
    maillimit_free(ml);
}

/* ---- moving ----------------------------------------------------------------------------- */

Test(hierarchy, domain_move_keeps_old_units_counts_new_mail_in_new_subscription)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 100));
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 5));
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example"), 5);
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example", 2, T);

    OK(maillimit_domain_move(ml, "SHOP.example", "Beta"));
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example", MAILLIMIT_WINDOW_HOUR, T + 30), 2);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "shop.example", MAILLIMIT_WINDOW_HOUR, T + 30), 2);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T + 30), 2);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T + 30), 0);
    /* Inherits through beta (no plan) now. */
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example"), 100);

    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example", 1, T + 60);
    dec(ml, MAILLIMIT_LEVEL_DOMAIN, "shop.example", 3, T + 60);
    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "s@shop.example", MAILLIMIT_WINDOW_HOUR, T + 60), 3);
    EQ(cnt(ml, MAILLIMIT_LEVEL_DOMAIN, "shop.example", MAILLIMIT_WINDOW_HOUR, T + 60), 6);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T + 60), 2);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T + 60), 4);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T + 60), 6);

    /* Placement is now beta. */
    OK(maillimit_domain_add(ml, "shop.example", "beta"));
    EQ(maillimit_domain_add(ml, "shop.example", "acme"), MAILLIMIT_EEXISTS);
    /* Moving to where it is is fine; missing domain or subscription is not. */
    OK(maillimit_domain_move(ml, "shop.example", "beta"));
    EQ(maillimit_domain_move(ml, "nosuch.example", "beta"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_domain_move(ml, "shop.example", "nosub"), MAILLIMIT_ENOTFOUND);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_WINDOW_HOUR, T + 60), 4);
    maillimit_free(ml);
}

Test(hierarchy, subscription_plan_set_changes_inheritance_not_counts)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 100));
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 5));
    OK(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "pro", MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 7));
    dec(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T);
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 5);

    OK(maillimit_subscription_plan_set(ml, "ACME", "Pro"));
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 7);
    OK(maillimit_subscription_add(ml, "acme", "pro"));
    EQ(maillimit_subscription_add(ml, "acme", "basic"), MAILLIMIT_EEXISTS);

    OK(maillimit_subscription_plan_set(ml, "acme", NULL));
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 100);
    OK(maillimit_subscription_add(ml, "acme", NULL));

    OK(maillimit_subscription_plan_set(ml, "beta", "basic"));
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "c@beta.example"), 5);

    EQ(maillimit_subscription_plan_set(ml, "nosub", "basic"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_subscription_plan_set(ml, "acme", "noplan"), MAILLIMIT_ENOTFOUND);
    EQ(limit_of(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"), 100);

    EQ(cnt(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", MAILLIMIT_WINDOW_HOUR, T), 1);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", MAILLIMIT_WINDOW_HOUR, T), 1);
    maillimit_free(ml);
}

/* ---- argument checking ------------------------------------------------------------------ */

Test(hierarchy, null_handle_einval_everywhere)
{
    maillimit_verdict v;
    maillimit_status s;
    int64_t i64 = 0;
    int i = 0;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);

    EQ(maillimit_new(NULL), MAILLIMIT_EINVAL);
    maillimit_free(NULL); /* a no-op */
    cr_assert_str_eq(maillimit_strerror(MAILLIMIT_EINVAL), "invalid argument");
    cr_assert_str_eq(maillimit_strerror(-12345), "unknown error");
    static const char *const names[] = {
        "MAILLIMIT_OK", "MAILLIMIT_EINVAL", "MAILLIMIT_ENOMEM", "MAILLIMIT_ENOTFOUND",
        "MAILLIMIT_EEXISTS", "MAILLIMIT_ERANGE", "MAILLIMIT_EIO", "MAILLIMIT_EFORMAT",
        "MAILLIMIT_ENOBUFS", "MAILLIMIT_EDONE", "MAILLIMIT_EBUSY", "MAILLIMIT_EVERSION"};
    for (int code = 0; code >= -11; code--)
        cr_assert_str_eq(maillimit_errname(code), names[-code]);
    cr_assert_str_eq(maillimit_errname(-12), "MAILLIMIT_E?");
    cr_assert_str_eq(maillimit_errname(1), "MAILLIMIT_E?");
    EQ(maillimit_version_number(), MAILLIMIT_VERSION_NUMBER);
    cr_assert_str_eq(maillimit_version_string(), MAILLIMIT_VERSION_STRING);
    maillimit_verdict_init(NULL, MAILLIMIT_VERDICT_VERSION); /* ignored */
    maillimit_status_init(NULL, MAILLIMIT_STATUS_VERSION);  /* ignored */

    EQ(maillimit_plan_add(NULL, "p"), MAILLIMIT_EINVAL);
    EQ(maillimit_subscription_add(NULL, "s", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_add(NULL, "d.example", "s"), MAILLIMIT_EINVAL);
    EQ(maillimit_mailbox_add(NULL, "m@d.example"), MAILLIMIT_EINVAL);
    EQ(maillimit_sysuser_add(NULL, "u", "s"), MAILLIMIT_EINVAL);
    EQ(maillimit_remove(NULL, MAILLIMIT_LEVEL_DOMAIN, "d.example"), MAILLIMIT_EINVAL);
    EQ(maillimit_sysuser_remove(NULL, "u"), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_move(NULL, "d.example", "s"), MAILLIMIT_EINVAL);
    EQ(maillimit_subscription_plan_set(NULL, "s", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_set(NULL, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                           MAILLIMIT_WINDOW_HOUR, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_configured(NULL, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                             MAILLIMIT_WINDOW_HOUR, &i64), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_effective(NULL, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, &i64),
       MAILLIMIT_EINVAL);
    EQ(maillimit_enabled_set(NULL, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_enabled_get(NULL, &i), MAILLIMIT_EINVAL);
    EQ(maillimit_flag_set(NULL, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_FLAG_SENDMAIL, 1),
       MAILLIMIT_EINVAL);
    EQ(maillimit_flag_effective(NULL, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_FLAG_SENDMAIL, &i),
       MAILLIMIT_EINVAL);
    EQ(maillimit_flag_configured(NULL, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_FLAG_SENDMAIL, &i),
       MAILLIMIT_EINVAL);
    EQ(maillimit_unit_set(NULL, MAILLIMIT_UNIT_MESSAGES), MAILLIMIT_EINVAL);
    EQ(maillimit_unit_get(NULL, &i), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(NULL, MAILLIMIT_LEVEL_MAILBOX, "m@d.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(maillimit_reserve(NULL, MAILLIMIT_LEVEL_MAILBOX, "m@d.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(maillimit_commit(NULL, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_release(NULL, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_reset(NULL, MAILLIMIT_LEVEL_SERVER, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_status_get(NULL, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T, &s),
       MAILLIMIT_EINVAL);
    EQ(maillimit_config_load(NULL, "/dev/null", NULL, 0), MAILLIMIT_EINVAL);
    EQ(maillimit_config_load_mem(NULL, "", 0, NULL, 0), MAILLIMIT_EINVAL);
}

Test(hierarchy, null_out_and_uninitialised_verdict_einval)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    EQ(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, NULL),
       MAILLIMIT_EINVAL);
    EQ(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                             MAILLIMIT_WINDOW_HOUR, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_enabled_get(ml, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_flag_effective(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_FLAG_SENDMAIL, NULL),
       MAILLIMIT_EINVAL);
    EQ(maillimit_flag_configured(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_FLAG_SENDMAIL, NULL),
       MAILLIMIT_EINVAL);
    EQ(maillimit_unit_get(ml, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T, NULL),
       MAILLIMIT_EINVAL);
    EQ(maillimit_reserve(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T, NULL),
       MAILLIMIT_EINVAL);
    EQ(maillimit_status_get(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T, NULL),
       MAILLIMIT_EINVAL);
    /* A verdict that was not initialised (version 0). */
    memset(&v, 0, sizeof v);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    EQ(maillimit_reserve(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T, &v),
       MAILLIMIT_EINVAL);
    /* Nothing counted. */
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 0);
    /* Names NULL where an entity is needed. */
    int64_t i64 = 0;
    EQ(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_MAILBOX, NULL, MAILLIMIT_WINDOW_HOUR, &i64),
       MAILLIMIT_EINVAL);
    EQ(maillimit_limit_set(ml, MAILLIMIT_LEVEL_DOMAIN, NULL, MAILLIMIT_LEVEL_DOMAIN,
                           MAILLIMIT_WINDOW_HOUR, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_reset(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_sysuser_remove(ml, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_move(ml, NULL, "beta"), MAILLIMIT_EINVAL);
    EQ(maillimit_domain_move(ml, "shop.example", NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_subscription_plan_set(ml, NULL, "basic"), MAILLIMIT_EINVAL);
    maillimit_free(ml);
}

Test(hierarchy, bad_level_window_flag_einval_everywhere)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    maillimit_status s;
    int64_t i64 = 0;
    int i = 0;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    static const int bad_levels[] = {-1, 5, 6, 100};
    static const int bad_windows[] = {-1, 2, 3};
    const char *a = "a@acme.example";

    for (size_t k = 0; k < sizeof bad_levels / sizeof bad_levels[0]; k++) {
        int L = bad_levels[k];
        EQ(maillimit_remove(ml, L, a), MAILLIMIT_EINVAL);
        EQ(maillimit_limit_set(ml, L, a, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_HOUR, 1),
           MAILLIMIT_EINVAL);
        EQ(maillimit_limit_set(ml, MAILLIMIT_LEVEL_MAILBOX, a, L, MAILLIMIT_WINDOW_HOUR, 1),
           MAILLIMIT_EINVAL);
        EQ(maillimit_limit_configured(ml, L, a, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_HOUR,
                                      &i64),
           MAILLIMIT_EINVAL);
        EQ(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_MAILBOX, a, L, MAILLIMIT_WINDOW_HOUR,
                                      &i64),
           MAILLIMIT_EINVAL);
        EQ(maillimit_limit_effective(ml, L, a, MAILLIMIT_WINDOW_HOUR, &i64), MAILLIMIT_EINVAL);
        EQ(maillimit_flag_set(ml, L, a, MAILLIMIT_FLAG_EXEMPT, 1), MAILLIMIT_EINVAL);
        EQ(maillimit_flag_effective(ml, L, a, MAILLIMIT_FLAG_EXEMPT, &i), MAILLIMIT_EINVAL);
        EQ(maillimit_flag_configured(ml, L, a, MAILLIMIT_FLAG_EXEMPT, &i), MAILLIMIT_EINVAL);
        EQ(maillimit_decide(ml, L, a, 1, T, &v), MAILLIMIT_EINVAL);
        EQ(maillimit_reserve(ml, L, a, 1, T, &v), MAILLIMIT_EINVAL);
        EQ(maillimit_reset(ml, L, a), MAILLIMIT_EINVAL);
        EQ(maillimit_status_get(ml, L, a, MAILLIMIT_WINDOW_HOUR, T, &s), MAILLIMIT_EINVAL);
    }
    for (size_t k = 0; k < sizeof bad_windows / sizeof bad_windows[0]; k++) {
        int W = bad_windows[k];
        EQ(maillimit_limit_set(ml, MAILLIMIT_LEVEL_MAILBOX, a, MAILLIMIT_LEVEL_MAILBOX, W, 1),
           MAILLIMIT_EINVAL);
        EQ(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_MAILBOX, a, MAILLIMIT_LEVEL_MAILBOX, W,
                                 &i64), MAILLIMIT_EINVAL);
        EQ(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_MAILBOX, a, W, &i64), MAILLIMIT_EINVAL);
        EQ(maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, a, W, T, &s), MAILLIMIT_EINVAL);
    }
    /* Flags other than SENDMAIL/EXEMPT. */
    EQ(maillimit_flag_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", 2, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_flag_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", -1, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_flag_effective(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", 2, &i), MAILLIMIT_EINVAL);
    EQ(maillimit_flag_configured(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", 2, &i),
       MAILLIMIT_EINVAL);
    /* Decisions only at mailbox, domain and subscription level. */
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_SERVER, NULL, 1, T, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MAILLIMIT_LEVEL_PLAN, "basic", 1, T, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_reserve(ml, MAILLIMIT_LEVEL_SERVER, NULL, 1, T, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_reserve(ml, MAILLIMIT_LEVEL_PLAN, "basic", 1, T, &v), MAILLIMIT_EINVAL);
    /* Plans have no counter. */
    EQ(maillimit_reset(ml, MAILLIMIT_LEVEL_PLAN, "basic"), MAILLIMIT_EINVAL);
    EQ(maillimit_status_get(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_WINDOW_HOUR, T, &s),
       MAILLIMIT_EINVAL);
    EQ(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_WINDOW_HOUR, &i64),
       MAILLIMIT_EINVAL);
    /* None of that changed anything. */
    int64_t val = 0;
    OK(maillimit_limit_configured(ml, MAILLIMIT_LEVEL_MAILBOX, a, MAILLIMIT_LEVEL_MAILBOX,
                             MAILLIMIT_WINDOW_HOUR, &val));
    EQ(val, MAILLIMIT_DEFAULT);
    EQ(cnt(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T), 0);
    EQ(status_rc(ml, MAILLIMIT_LEVEL_MAILBOX, a), MAILLIMIT_OK);
    maillimit_free(ml);
}

Test(hierarchy, sysuser_move_repoints_the_alias)
{
    maillimit *ml = NULL;
    cr_assert_eq(maillimit_new(&ml), 0);
    cr_assert_eq(maillimit_subscription_add(ml, "one", NULL), 0);
    cr_assert_eq(maillimit_subscription_add(ml, "two", NULL), 0);
    cr_assert_eq(maillimit_sysuser_add(ml, "web", "one"), 0);
    cr_assert_eq(maillimit_sysuser_move(ml, "WEB", "two"), 0);
    cr_assert_eq(maillimit_sysuser_add(ml, "web", "two"), 0); /* same placement now */
    cr_assert_eq(maillimit_sysuser_add(ml, "web", "one"), MAILLIMIT_EEXISTS);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    cr_assert_eq(maillimit_decide(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "web", 2, 1767261600, &v), 0);
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "two",
                                      MAILLIMIT_WINDOW_HOUR, 1767261600, &s), 0);
    cr_assert_eq(s.count, 2);
    cr_assert_eq(maillimit_status_get(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "one",
                                      MAILLIMIT_WINDOW_HOUR, 1767261600, &s), 0);
    cr_assert_eq(s.count, 0);
    cr_assert_eq(maillimit_sysuser_move(ml, "nobody", "two"), MAILLIMIT_ENOTFOUND);
    cr_assert_eq(maillimit_sysuser_move(ml, "web", "three"), MAILLIMIT_ENOTFOUND);
    cr_assert_eq(maillimit_sysuser_move(ml, "we b", "two"), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_sysuser_move(NULL, "web", "two"), MAILLIMIT_EINVAL);
    maillimit_free(ml);
}

/* SPDX-License-Identifier: MIT */
/* Listing: maillimit_list_open/next/count/close and maillimit_generation. Every expectation
 * is hand-computed from the fixture below. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <maillimit.h>

#include "fixture.h"

/* plans basic, pro; acme (basic) with acme.example {a, b} and shop.example {s}, system users
 * acme_web and acme_cron; beta (no plan) with beta.example {c}, system user beta_web. */
static maillimit *fixture(void)
{
    return fixture_from("plan pro\n"
                        "plan basic\n"
                        "subscription beta\n"
                        "subscription acme plan=basic\n"
                        "domain shop.example subscription=acme\n"
                        "domain acme.example subscription=acme\n"
                        "domain beta.example subscription=beta\n"
                        "mailbox b@acme.example\n"
                        "mailbox a@acme.example\n"
                        "mailbox s@shop.example\n"
                        "mailbox c@beta.example\n"
                        "sysuser acme_web subscription=acme\n"
                        "sysuser ACME_cron subscription=acme\n"
                        "sysuser beta_web subscription=beta\n");
}

/* The listing as "name<parent>,name<parent>,..." */
static void listing(maillimit *ml, int level, int scope_level, const char *scope, int implicit,
                    char *buf, size_t size)
{
    maillimit_list *it = NULL;
    OK(maillimit_list_open(ml, level, scope_level, scope, implicit, &it));
    cr_assert(it != NULL);
    size_t total = 0, seen = 0, len = 0;
    OK(maillimit_list_count(it, &total));
    buf[0] = '\0';
    maillimit_entity e;
    maillimit_entity_init(&e, MAILLIMIT_ENTITY_VERSION);
    int rc;
    while ((rc = maillimit_list_next(it, &e)) == 0) {
        EQ(e.version, MAILLIMIT_ENTITY_VERSION);
        EQ(e.level, level);
        len += (size_t)snprintf(buf + len, size - len, "%s%s<%s>%s", seen ? "," : "", e.name,
                                e.parent, e.implicit ? "*" : "");
        seen++;
    }
    EQ(rc, MAILLIMIT_EDONE);
    EQ(maillimit_list_next(it, &e), MAILLIMIT_EDONE);
    EQ(seen, total);
    maillimit_list_close(it);
}

Test(list, every_level_sorted_with_parents)
{
    maillimit *ml = fixture();
    char b[2048];
    listing(ml, MAILLIMIT_LEVEL_PLAN, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "basic<>,pro<>");
    listing(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "acme<basic>,beta<>");
    listing(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "acme.example<acme>,beta.example<beta>,shop.example<acme>");
    listing(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "a@acme.example<acme.example>,b@acme.example<acme.example>,"
                        "c@beta.example<beta.example>,s@shop.example<shop.example>");
    listing(ml, MAILLIMIT_LIST_SYSUSER, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "acme_cron<acme>,acme_web<acme>,beta_web<beta>");
    maillimit_free(ml);
}

Test(list, scoped_to_a_subtree)
{
    maillimit *ml = fixture();
    char b[2048];
    listing(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SUBSCRIPTION, "ACME", 0, b, sizeof b);
    cr_assert_str_eq(b, "acme.example<acme>,shop.example<acme>");
    listing(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_DOMAIN, "acme.example", 0, b, sizeof b);
    cr_assert_str_eq(b, "a@acme.example<acme.example>,b@acme.example<acme.example>");
    listing(ml, MAILLIMIT_LIST_SYSUSER, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", 0, b, sizeof b);
    cr_assert_str_eq(b, "beta_web<beta>");
    listing(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_PLAN, "basic", 0, b, sizeof b);
    cr_assert_str_eq(b, "a@acme.example<acme.example>,b@acme.example<acme.example>,"
                        "s@shop.example<shop.example>");
    listing(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_LEVEL_PLAN, "pro", 0, b, sizeof b);
    cr_assert_str_eq(b, "");
    /* a domain scope holds no subscriptions */
    listing(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_LEVEL_DOMAIN, "beta.example", 0, b,
            sizeof b);
    cr_assert_str_eq(b, "");
    maillimit_free(ml);
}

Test(list, implicit_mailboxes_only_when_asked)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "new@beta.example", 1, T, &v));
    char b[2048];
    listing(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_DOMAIN, "beta.example", 0, b, sizeof b);
    cr_assert_str_eq(b, "c@beta.example<beta.example>");
    listing(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_DOMAIN, "beta.example", 1, b, sizeof b);
    cr_assert_str_eq(b, "c@beta.example<beta.example>,new@beta.example<beta.example>*");
    maillimit_free(ml);
}

Test(list, removed_and_moved_entities)
{
    maillimit *ml = fixture();
    char b[2048];
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"));
    OK(maillimit_domain_move(ml, "beta.example", "acme"));
    OK(maillimit_sysuser_move(ml, "beta_web", "acme"));
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_PLAN, "basic"));
    listing(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "beta.example<acme>,shop.example<acme>");
    listing(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "c@beta.example<beta.example>,s@shop.example<shop.example>");
    listing(ml, MAILLIMIT_LIST_SYSUSER, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", 0, b, sizeof b);
    cr_assert_str_eq(b, "acme_cron<acme>,acme_web<acme>,beta_web<acme>");
    listing(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_LEVEL_SERVER, NULL, 0, b, sizeof b);
    cr_assert_str_eq(b, "acme<>,beta<>");
    maillimit_free(ml);
}

Test(list, the_iterator_is_a_copy)
{
    maillimit *ml = fixture();
    maillimit_list *it = NULL;
    OK(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SERVER, NULL, 0, &it));
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"));
    maillimit_entity e;
    maillimit_entity_init(&e, MAILLIMIT_ENTITY_VERSION);
    OK(maillimit_list_next(it, &e));
    cr_assert_str_eq(e.name, "acme.example");
    cr_assert_str_eq(e.parent, "acme");
    maillimit_list_close(it);
    maillimit_free(ml);
}

Test(list, argument_errors)
{
    maillimit *ml = fixture();
    maillimit_list *it = (maillimit_list *)1;
    EQ(maillimit_list_open(NULL, MAILLIMIT_LEVEL_DOMAIN, 0, NULL, 0, &it), MAILLIMIT_EINVAL);
    cr_assert(it == NULL);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, 0, NULL, 0, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_SERVER, 0, NULL, 0, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, 6, 0, NULL, 0, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, -1, 0, NULL, 0, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, 0, "x", 0, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example",
                           0, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SUBSCRIPTION, NULL, 0,
                           &it), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SUBSCRIPTION, "bad name",
                           0, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SUBSCRIPTION, "nosuch",
                           0, &it), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, 0, NULL, 2, &it), MAILLIMIT_EINVAL);
    cr_assert(it == NULL);
    OK(maillimit_list_open(ml, MAILLIMIT_LEVEL_DOMAIN, 0, NULL, 0, &it));
    maillimit_entity e;
    memset(&e, 0, sizeof e); /* not initialised */
    EQ(maillimit_list_next(it, &e), MAILLIMIT_EINVAL);
    EQ(maillimit_list_next(it, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_list_next(NULL, &e), MAILLIMIT_EINVAL);
    size_t n = 0;
    EQ(maillimit_list_count(NULL, &n), MAILLIMIT_EINVAL);
    EQ(maillimit_list_count(it, NULL), MAILLIMIT_EINVAL);
    OK(maillimit_list_count(it, &n));
    EQ(n, 3);
    maillimit_list_close(it);
    maillimit_list_close(NULL);
    maillimit_entity_init(NULL, MAILLIMIT_ENTITY_VERSION);
    maillimit_free(ml);
}

Test(list, generation_grows_with_hierarchy_changes_only)
{
    maillimit *ml = NULL;
    OK(maillimit_new(&ml));
    uint64_t g0 = 0, g = 0;
    EQ(maillimit_generation(NULL, &g), MAILLIMIT_EINVAL);
    EQ(maillimit_generation(ml, NULL), MAILLIMIT_EINVAL);
    OK(maillimit_generation(ml, &g0));
#define GROWS(call)                                                                           \
    do {                                                                                      \
        uint64_t before_, after_;                                                             \
        OK(maillimit_generation(ml, &before_));                                               \
        OK(call);                                                                             \
        OK(maillimit_generation(ml, &after_));                                                \
        cr_assert(after_ > before_, "%s did not change the generation", #call);               \
    } while (0)
#define SAME(call)                                                                            \
    do {                                                                                      \
        uint64_t before_, after_;                                                             \
        OK(maillimit_generation(ml, &before_));                                               \
        (void)(call);                                                                         \
        OK(maillimit_generation(ml, &after_));                                                \
        cr_assert(after_ == before_, "%s changed the generation", #call);                     \
    } while (0)
    GROWS(maillimit_plan_add(ml, "basic"));
    GROWS(maillimit_subscription_add(ml, "acme", NULL));
    GROWS(maillimit_subscription_add(ml, "beta", NULL));
    GROWS(maillimit_domain_add(ml, "acme.example", "acme"));
    GROWS(maillimit_sysuser_add(ml, "acme_web", "acme"));
    SAME(maillimit_domain_add(ml, "acme.example", "acme")); /* same placement: a no-op */
    SAME(maillimit_domain_add(ml, "acme.example", "beta")); /* EEXISTS */
    SAME(maillimit_limit_set(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_LEVEL_DOMAIN,
                             MAILLIMIT_WINDOW_HOUR, 5));
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    SAME(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "x@acme.example", 1, T, &v));
    GROWS(maillimit_mailbox_add(ml, "x@acme.example")); /* implicit becomes configured */
    GROWS(maillimit_subscription_plan_set(ml, "acme", "basic"));
    GROWS(maillimit_domain_move(ml, "acme.example", "beta"));
    GROWS(maillimit_sysuser_move(ml, "acme_web", "beta"));
    GROWS(maillimit_sysuser_remove(ml, "acme_web"));
    GROWS(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"));
    void *snap = NULL;
    size_t snaplen = 0;
    OK(maillimit_snapshot_save_mem(ml, &snap, &snaplen, NULL, 0));
    GROWS(maillimit_snapshot_load_mem(ml, snap, snaplen, NULL, 0));
    maillimit_buffer_free(snap);
    OK(maillimit_generation(ml, &g));
    cr_assert(g > g0);
    maillimit_free(ml);
}

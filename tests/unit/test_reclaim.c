/* SPDX-License-Identifier: MIT */
/* Safe reclamation: removed entities and idle implicit mailboxes are freed by maillimit_tick()
 * once nothing can see them, and what still names them (queued events, reservations) keeps
 * them. Run under ASan in CI: a use after free fails there. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <maillimit.h>

#include "internal.h"
#include "fixture.h"

/* acme with acme.example, whose mailboxes may send 1 an hour; no mailboxes. */
static maillimit *fixture(void)
{
    return fixture_from("subscription acme\n"
                        "domain acme.example subscription=acme mailbox=1\n");
}

static size_t count_list(struct maillimit__entity *e)
{
    size_t n = 0;
    for (; e; e = e->all_next)
        n++;
    return n;
}

static maillimit_verdict decide(maillimit *ml, int level, const char *sender, int64_t now)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, level, sender, 1, now, &v));
    return v;
}

static int64_t server_count(maillimit *ml, int64_t now)
{
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    OK(maillimit_status_get(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, now, &st));
    return st.count;
}

Test(reclaim, removed_entities_are_freed_by_a_tick)
{
    maillimit *ml = fixture();
    OK(maillimit_mailbox_add(ml, "a@acme.example"));
    OK(maillimit_mailbox_add(ml, "b@acme.example"));
    decide(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", T);
    EQ(count_list(ml->all), 4);
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"));
    EQ(count_list(ml->all), 1); /* acme */
    EQ(count_list(ml->retired.entities), 3);
    OK(maillimit_tick(ml, T + 60)); /* no reader: the batch is freed at once */
    EQ(count_list(ml->retired.entities), 0);
    EQ(count_list(ml->batch.entities), 0);
    /* what was sent stays in the ancestors */
    EQ(server_count(ml, T + 60), 1);
    /* the names are free again */
    OK(maillimit_domain_add(ml, "acme.example", "acme"));
    OK(maillimit_mailbox_add(ml, "a@acme.example"));
    EQ(decide(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", T + 61).decision, MAILLIMIT_ALLOW);
    maillimit_free(ml);
}

Test(reclaim, a_reader_in_its_section_holds_the_batch)
{
    maillimit *ml = fixture();
    OK(maillimit_mailbox_add(ml, "a@acme.example"));
    unsigned rs = maillimit__read_enter(ml); /* as a decider that found a@ */
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"));
    OK(maillimit_tick(ml, T));
    EQ(count_list(ml->batch.entities), 1); /* waiting for the reader */
    OK(maillimit_tick(ml, T + 60));
    EQ(count_list(ml->batch.entities), 1);
    maillimit__read_leave(ml, rs);
    OK(maillimit_tick(ml, T + 120));
    EQ(count_list(ml->batch.entities), 0);
    EQ(count_list(ml->retired.entities), 0);
    maillimit_free(ml);
}

Test(reclaim, a_queued_event_keeps_its_entity_until_read)
{
    maillimit *ml = fixture();
    OK(maillimit_mailbox_add(ml, "a@acme.example"));
    decide(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", T);
    EQ(decide(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", T + 1).decision, MAILLIMIT_DENY);
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example"));
    OK(maillimit_tick(ml, T + 2));
    OK(maillimit_tick(ml, T + 3));
    /* LIMIT_REACHED is queued and names the mailbox: it was kept */
    EQ(count_list(ml->retired.entities) + count_list(ml->batch.entities), 1);
    maillimit_event ev;
    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
    OK(maillimit_events_next(ml, T + 4, &ev));
    EQ(ev.type, MAILLIMIT_EVENT_LIMIT_REACHED);
    EQ(ev.level, MAILLIMIT_LEVEL_MAILBOX);
    cr_assert_str_eq(ev.name, "a@acme.example");
    EQ(maillimit_events_next(ml, T + 4, &ev), MAILLIMIT_EDONE);
    OK(maillimit_tick(ml, T + 5));
    OK(maillimit_tick(ml, T + 6));
    EQ(count_list(ml->retired.entities) + count_list(ml->batch.entities), 0);
    maillimit_free(ml);
}

Test(reclaim, an_outstanding_reservation_keeps_its_rings)
{
    maillimit *ml = fixture();
    OK(maillimit_mailbox_add(ml, "a@acme.example"));
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(ml, MAILLIMIT_LEVEL_MAILBOX, "a@acme.example", 1, T, &v));
    EQ(server_count(ml, T), 1);
    OK(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example"));
    OK(maillimit_tick(ml, T + 1));
    OK(maillimit_tick(ml, T + 2));
    /* the mailbox and the domain are held by the token's rings */
    EQ(count_list(ml->retired.entities) + count_list(ml->batch.entities), 2);
    OK(maillimit_release(ml, v.token)); /* touches the rings: must be alive (ASan) */
    EQ(server_count(ml, T + 3), 0);
    OK(maillimit_tick(ml, T + 4));
    OK(maillimit_tick(ml, T + 5));
    EQ(count_list(ml->retired.entities) + count_list(ml->batch.entities), 0);
    maillimit_free(ml);
}

Test(reclaim, snapshot_load_frees_the_replaced_state)
{
    maillimit *ml = fixture();
    for (int i = 0; i < 50; i++) {
        char a[64];
        snprintf(a, sizeof a, "u%d@acme.example", i);
        OK(maillimit_mailbox_add(ml, a));
        decide(ml, MAILLIMIT_LEVEL_MAILBOX, a, T);
    }
    void *buf = NULL;
    size_t len = 0;
    OK(maillimit_snapshot_save_mem(ml, &buf, &len, NULL, 0));
    for (int round = 0; round < 3; round++) {
        OK(maillimit_snapshot_load_mem(ml, buf, len, NULL, 0));
        EQ(count_list(ml->all), 52);
        OK(maillimit_tick(ml, T + 10 + round));
        EQ(count_list(ml->retired.entities) + count_list(ml->batch.entities), 0);
        EQ(server_count(ml, T + 10), 50);
    }
    maillimit_buffer_free(buf);
    maillimit_free(ml);
}

Test(reclaim, idle_implicit_mailboxes_are_forgotten)
{
    maillimit *ml = fixture();
    OK(maillimit_retention_set(ml, 1));
    decide(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example", T);
    decide(ml, MAILLIMIT_LEVEL_MAILBOX, "later@acme.example", T + 20 * 3600);
    OK(maillimit_mailbox_add(ml, "kept@acme.example"));
    decide(ml, MAILLIMIT_LEVEL_MAILBOX, "kept@acme.example", T);
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    /* 24 h later: still in its daily window (the last minute counted is not 25 h old) */
    OK(maillimit_tick(ml, T + 24 * 3600));
    OK(maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example",
                            MAILLIMIT_WINDOW_HOUR, T + 24 * 3600, &st));
    /* 25 h and a minute: once@ is forgotten, later@ is not, configured kept@ never is */
    OK(maillimit_tick(ml, T + 25 * 3600 + 60));
    EQ(maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example",
                            MAILLIMIT_WINDOW_HOUR, T + 25 * 3600 + 60, &st),
       MAILLIMIT_ENOTFOUND);
    OK(maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, "later@acme.example",
                            MAILLIMIT_WINDOW_HOUR, T + 25 * 3600 + 60, &st));
    OK(maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, "kept@acme.example",
                            MAILLIMIT_WINDOW_HOUR, T + 25 * 3600 + 60, &st));
    /* its units stay in the domain's history; a new mail makes it again, counting from 0 */
    EQ(decide(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example", T + 26 * 3600).decision,
       MAILLIMIT_ALLOW);
    EQ(decide(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example", T + 26 * 3600 + 1).decision,
       MAILLIMIT_DENY);
    maillimit_free(ml);
}

Test(reclaim, history_within_retention_keeps_an_implicit_mailbox)
{
    maillimit *ml = fixture(); /* retention 744 hours */
    decide(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example", T);
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    OK(maillimit_tick(ml, T + 2 * 3600)); /* the hour at T goes into history */
    OK(maillimit_tick(ml, T + 26 * 3600));
    OK(maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example",
                            MAILLIMIT_WINDOW_HOUR, T + 26 * 3600, &st));
    /* the history hour at T leaves after 744 hours */
    OK(maillimit_tick(ml, T + 745 * 3600));
    EQ(maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, "once@acme.example",
                            MAILLIMIT_WINDOW_HOUR, T + 745 * 3600, &st),
       MAILLIMIT_ENOTFOUND);
    maillimit_free(ml);
}

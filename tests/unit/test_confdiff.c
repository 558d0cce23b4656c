/* SPDX-License-Identifier: MIT */
/* maillimit__conf_delta(): what a configuration file changed since it was last applied. */
#define _POSIX_C_SOURCE 200809L

#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "confdiff.h"

static void delta(const char *prev, const char *next, const char *want)
{
    char *out = NULL;
    cr_assert_eq(maillimit__conf_delta(prev, next, &out), 0);
    cr_assert_str_eq(out, want, "got:\n%s\nprev:\n%s\nnext:\n%s", out, prev, next);
    free(out);
}

static const char base[] =
    "enable yes\n"
    "server mailbox=100 domain=500\n"
    "plan basic mailbox=50   # a comment\n"
    "subscription acme plan=basic subscription=unlimited\n"
    "domain acme.example subscription=acme domain=300 mailbox.day=2000\n"
    "mailbox ceo@acme.example mailbox=20\n"
    "sysuser acme_web subscription=acme\n";

Test(confdiff, an_unchanged_file_changes_nothing)
{
    delta(base, base, "\n\n\n\n\n\n\n");
    /* case, spacing and comments are not changes */
    delta(base,
          "ENABLE yes\nserver domain=500   mailbox=100\nplan Basic mailbox=50\n"
          "subscription acme plan=basic subscription=UNLIMITED # ok\n"
          "domain ACME.example subscription=acme mailbox.day=2000 domain=300\n"
          "\n# a new comment line\nmailbox ceo@acme.example mailbox=20\n"
          "sysuser acme_web subscription=acme\n",
          "ENABLE yes\n\n\n\n\n\n\n\n\n");
}

Test(confdiff, changed_settings_only_with_their_placement)
{
    const char next[] =
        "enable yes\n"
        "server mailbox=100 domain=600\n"
        "plan basic mailbox=50\n"
        "subscription acme plan=basic subscription=unlimited\n"
        "domain acme.example subscription=acme domain=250 mailbox.day=2000\n"
        "mailbox ceo@acme.example mailbox=20 exempt=yes\n"
        "sysuser acme_web subscription=acme\n";
    delta(base, next,
          "\nserver domain=600\n\n\ndomain acme.example subscription=acme domain=250\n"
          "mailbox ceo@acme.example exempt=yes\n\n");
}

Test(confdiff, new_lines_whole_and_moves_kept)
{
    const char next[] =
        "enable no\n"
        "server mailbox=100 domain=500\n"
        "plan basic mailbox=50\n"
        "plan gold mailbox=90\n"
        "subscription acme plan=gold subscription=unlimited\n"
        "domain acme.example subscription=acme domain=300 mailbox.day=2000\n"
        "domain shop.example subscription=acme\n"
        "mailbox ceo@acme.example mailbox=20\n"
        "sysuser acme_web subscription=beta\n"
        "unit recipients\n";
    delta(base, next,
          "enable no\n\n\nplan gold mailbox=90\nsubscription acme plan=gold\n\n"
          "domain shop.example subscription=acme\n\nsysuser acme_web subscription=beta\n"
          "unit recipients\n");
}

Test(confdiff, keys_repeated_over_lines_count_with_their_last_value)
{
    const char text[] = "domain a.example subscription=s domain=1\n"
                        "domain a.example subscription=s domain=2 mailbox=3\n"
                        "unit messages\nunit recipients\n";
    delta(text, text, "\n\n\n\n");
    /* the last value changed: both lines carry it, applied in order the last one wins */
    delta(text,
          "domain a.example subscription=s domain=1\n"
          "domain a.example subscription=s domain=4 mailbox=3\n"
          "unit messages\nunit recipients\n",
          "domain a.example subscription=s domain=1\ndomain a.example subscription=s domain=4\n"
          "\n\n");
}

Test(confdiff, a_first_apply_is_the_whole_file)
{
    delta("", base, base);
    delta("", "", "");
    delta(base, "", "");
}

#else
typedef int maillimit_test_no_server_layer;
#endif

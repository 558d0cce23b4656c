/* SPDX-License-Identifier: MIT */
/* maillimitd's configuration parser under test (libmaillimit/server/conf.c): the parsed
 * file, the core configuration it leaves, the error text, and parse() / fini() around them.
 * For the test files of the server layer's directives. */
#ifndef MAILLIMIT_TEST_CONF_FIXTURE_H
#define MAILLIMIT_TEST_CONF_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "srv_internal.h"

static maillimit__conf c;
static char *core;
static char err[512];

/* Parse text as the file "test.conf" into c (what an earlier parse left is freed first). */
static int parse(const char *text)
{
    free(core);
    core = NULL;
    maillimit__conf_free(&c);
    err[0] = '\0';
    return maillimit__conf_parse(text, strlen(text), "test.conf", &c, &core, err, sizeof err);
}

/* The test suite's .fini: frees what the last parse left. */
static void fini(void)
{
    free(core);
    core = NULL;
    maillimit__conf_free(&c);
}

#endif

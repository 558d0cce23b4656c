/* SPDX-License-Identifier: MIT */
/* A program built against an installed libmaillimit (see install_consumer.sh). */
#include <maillimit.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    maillimit *ml = NULL;
    int rc = maillimit_new(&ml);
    if (rc != 0) {
        fprintf(stderr, "consumer: maillimit_new: %s\n", maillimit_strerror(rc));
        return 1;
    }
    printf("consumer: libmaillimit %s (%u), header %s (%u)\n", maillimit_version_string(),
           (unsigned)maillimit_version_number(), MAILLIMIT_VERSION_STRING,
           (unsigned)MAILLIMIT_VERSION_NUMBER);
    int bad = maillimit_version_number() != MAILLIMIT_VERSION_NUMBER ||
              strcmp(maillimit_version_string(), MAILLIMIT_VERSION_STRING) != 0;
    maillimit_free(ml);
    if (bad) {
        fprintf(stderr, "consumer: run-time and header versions differ\n");
        return 1;
    }
    return 0;
}

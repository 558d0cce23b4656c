/* SPDX-License-Identifier: MIT */
/* A program built against an installed libmaillimit_server (see install_consumer.sh). */
#include <maillimit.h>
#include <maillimit/server.h>
#include <stdio.h>

int main(void)
{
    maillimit *ml = NULL;
    maillimit_policy *p = NULL;
    int rc = maillimit_new(&ml);
    if (rc == 0)
        rc = maillimit_policy_new(&p, ml);
    if (rc != 0) {
        fprintf(stderr, "consumer_server: %s\n", maillimit_strerror(rc));
        maillimit_free(ml);
        return 1;
    }
    printf("consumer_server: policy object created with libmaillimit %s\n",
           maillimit_version_string());
    maillimit_policy_free(p);
    maillimit_free(ml);
    return 0;
}

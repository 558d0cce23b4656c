/* SPDX-License-Identifier: MIT */
/* Prints cluster_redis's Lua script (libmaillimit/server/cluster.c), so that
 * cluster_script.py can run it in a real Redis at chosen times. */
#include <stdio.h>

#include "cluster.h"

int main(void)
{
    fputs(maillimit__cluster_script, stdout);
    return ferror(stdout) ? 1 : 0;
}

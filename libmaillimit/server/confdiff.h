/* SPDX-License-Identifier: MIT */
/* confdiff.c: what a configuration text changed since it was last applied. Internal. */
#ifndef MAILLIMIT_CONFDIFF_H
#define MAILLIMIT_CONFDIFF_H

#include "srv_internal.h"

/* The lines of `next` that are new or changed compared with `prev` (both core configuration
 * texts, NUL-terminated): a new line whole; of a changed line its directive, name, placement
 * (subscription=, plan=) and the settings whose value changed; an unchanged line empty. The
 * result has the line count of `next`, malloc'ed in *out. Returns 0 or MAILLIMIT_ENOMEM. */
MAILLIMIT__HIDDEN int maillimit__conf_delta(const char *prev, const char *next, char **out);

#endif

/* SPDX-License-Identifier: MIT */
/* Shared declaration of the libFuzzer entry point, for the targets and for replay.c. */
#ifndef MAILLIMIT_FUZZ_H
#define MAILLIMIT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

/* SPDX-License-Identifier: MIT */
/* The one msgpack validator of libmaillimit: measures an untrusted msgpack object before
 * msgpack-c unpacks it. Used by the snapshot reader (snapshot_read.c) and the admin protocol
 * (server/admin.c). It is a header of static functions because those two live in different
 * shared libraries that each hide their internals; written once, compiled into each.
 *
 * maillimit__mp_measure() walks the object's headers iteratively, touching every byte at most
 * once and allocating nothing, and checks that the object is complete within the bytes given,
 * well-formed (0xc1 is never used), nested at most `depth_max` containers deep, and - when
 * `max` is not SIZE_MAX - no larger than `max` bytes, judged from the lengths it announces
 * before they are read. Only then may msgpack-c unpack it: no length in the input can make
 * msgpack-c allocate more than a small multiple of what the caller accepted. */
#ifndef MAILLIMIT_MPSCAN_H
#define MAILLIMIT_MPSCAN_H

#include <stddef.h>
#include <stdint.h>

enum {
    MAILLIMIT__MP_OK = 0,
    MAILLIMIT__MP_TRUNCATED, /* the bytes end before the object does (more may come) */
    MAILLIMIT__MP_MALFORMED, /* a byte that no msgpack object starts with */
    MAILLIMIT__MP_DEEP,      /* containers nested deeper than depth_max */
    MAILLIMIT__MP_TOO_BIG,   /* the object needs more than max bytes */
    MAILLIMIT__MP_DEPTH_LIMIT = 32 /* the largest depth_max */
};

/* Measure the msgpack object at p[0..n): MAILLIMIT__MP_OK and *len its length, or one of the
 * problems above. depth_max: 0..MAILLIMIT__MP_DEPTH_LIMIT containers inside one another. */
static inline int maillimit__mp_measure(const unsigned char *p, size_t n, size_t max,
                                        int depth_max, size_t *len)
{
    uint64_t left[MAILLIMIT__MP_DEPTH_LIMIT + 1]; /* items still to read at each depth */
    int d = 0;
    size_t pos = 0;
    left[0] = 1;
    if (depth_max > MAILLIMIT__MP_DEPTH_LIMIT)
        depth_max = MAILLIMIT__MP_DEPTH_LIMIT;
    while (d >= 0) {
        if (left[d] == 0) {
            d--;
            continue;
        }
        if (pos >= n)
            return pos >= max ? MAILLIMIT__MP_TOO_BIG : MAILLIMIT__MP_TRUNCATED;
        left[d]--;
        unsigned b = p[pos];
        uint64_t skip = 0, items = 0;
        size_t hdr = 1;
        int lenbytes = 0; /* a big-endian length follows the type byte */
        int kind = 0;     /* 0 scalar, 1 bytes, 2 ext (type byte + bytes), 3 array, 4 map */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b <= 0x8f) {
            items = 2 * (uint64_t)(b & 0x0f);
        } else if (b <= 0x9f) {
            items = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: lenbytes = 1; kind = 1; break; /* bin8, str8 */
            case 0xc5: case 0xda: lenbytes = 2; kind = 1; break;
            case 0xc6: case 0xdb: lenbytes = 4; kind = 1; break;
            case 0xc7: lenbytes = 1; kind = 2; break;            /* ext8: length, type, data */
            case 0xc8: lenbytes = 2; kind = 2; break;
            case 0xc9: lenbytes = 4; kind = 2; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;                          /* fixext1: type + 1 */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: lenbytes = 2; kind = 3; break;            /* array16 */
            case 0xdd: lenbytes = 4; kind = 3; break;
            case 0xde: lenbytes = 2; kind = 4; break;            /* map16 */
            case 0xdf: lenbytes = 4; kind = 4; break;
            default: return MAILLIMIT__MP_MALFORMED;             /* 0xc1 */
            }
        }
        if (lenbytes) {
            if (n - pos < 1 + (size_t)lenbytes)
                return n >= max ? MAILLIMIT__MP_TOO_BIG : MAILLIMIT__MP_TRUNCATED;
            uint64_t l = 0;
            for (int i = 1; i <= lenbytes; i++)
                l = l << 8 | p[pos + (size_t)i];
            hdr += (size_t)lenbytes;
            if (kind == 1)
                skip = l;
            else if (kind == 2)
                skip = l + 1;
            else
                items = kind == 3 ? l : 2 * l;
        }
        if (skip > max || pos + hdr > max - (size_t)skip)
            return MAILLIMIT__MP_TOO_BIG;
        if (items > max - (pos + hdr + (size_t)skip))
            return MAILLIMIT__MP_TOO_BIG; /* each item takes at least one byte */
        if ((uint64_t)(n - pos) < hdr + skip)
            return MAILLIMIT__MP_TRUNCATED;
        pos += hdr + (size_t)skip;
        if (items) {
            if (d >= depth_max)
                return MAILLIMIT__MP_DEEP;
            left[++d] = items;
        }
    }
    *len = pos;
    return MAILLIMIT__MP_OK;
}

#endif

/* SPDX-License-Identifier: MIT */
/* A growable text buffer and the escapes of the HTTP side: HTML text and attributes, URL
 * path segments and query values, Prometheus label values.
 *
 * Names of entities may hold any byte but controls, space and DEL (SPEC §4.1): quotes, '<',
 * '&', '/', '%', '?', '#' and bytes >= 0x80 that need not be UTF-8. Every name a page shows
 * goes through maillimit__html_esc(); every name in a link through maillimit__url_esc().
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static int grow(maillimit__buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void maillimit__buf_put(maillimit__buf *b, const char *s, size_t n)
{
    if (grow(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void maillimit__buf_puts(maillimit__buf *b, const char *s)
{
    maillimit__buf_put(b, s, strlen(s));
}

void maillimit__buf_printf(maillimit__buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        maillimit__buf_put(b, small, (size_t)n);
        return;
    }
    if (grow(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void maillimit__buf_free(maillimit__buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one
 * (overlong forms, surrogates and code points above U+10FFFF are not valid). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the NUL */
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void maillimit__html_esc(maillimit__buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char *run = p;
        while (*p && *p != '&' && *p != '<' && *p != '>' && *p != '"' && *p != '\'' &&
               *p >= 0x20 && *p != 0x7f && *p < 0x80)
            p++;
        if (p > run)
            maillimit__buf_put(b, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        switch (*p) {
        case '&': maillimit__buf_puts(b, "&amp;"); p++; continue;
        case '<': maillimit__buf_puts(b, "&lt;"); p++; continue;
        case '>': maillimit__buf_puts(b, "&gt;"); p++; continue;
        case '"': maillimit__buf_puts(b, "&quot;"); p++; continue;
        case '\'': maillimit__buf_puts(b, "&#39;"); p++; continue;
        default: break;
        }
        size_t n = *p >= 0x80 ? utf8_len(p) : 0;
        if (n) {
            maillimit__buf_put(b, (const char *)p, n);
            p += n;
        } else {
            maillimit__buf_printf(b, "\\x%02X", *p); /* a control or a byte that is not UTF-8 */
            p++;
        }
    }
}

void maillimit__url_esc(maillimit__buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
            char ch = (char)c;
            maillimit__buf_put(b, &ch, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            maillimit__buf_put(b, e, 3);
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long maillimit__url_unesc(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return -1;
        *w++ = (char)(hi << 4 | lo);
        r += 2;
    }
    *w = '\0';
    return (long)(w - s);
}

void maillimit__prom_esc(maillimit__buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            maillimit__buf_puts(b, "\\\\");
        else if (*s == '"')
            maillimit__buf_puts(b, "\\\"");
        else if (*s == '\n')
            maillimit__buf_puts(b, "\\n");
        else
            maillimit__buf_put(b, s, 1);
    }
}

/* Internal declarations of the server layer (never installed). Hidden symbols are named
 * maillimit__*; the unit tests link the static library to reach them. */
#ifndef MAILLIMIT_SRV_INTERNAL_H
#define MAILLIMIT_SRV_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "maillimit.h"
#include "maillimit/server.h"

#define MAILLIMIT__HIDDEN __attribute__((visibility("hidden")))

/* ---- policy.c: the request parser (a pure function) ------------------------------------ */

/* A value inside the parsed buffer: not NUL-terminated; p == NULL when absent. */
typedef struct maillimit__str {
    const char *p;
    size_t n;
} maillimit__str;

/* The attributes the policy uses; every other attribute is skipped. */
typedef struct maillimit__policy_req {
    maillimit__str request, protocol_state, instance, sender, recipient, recipient_count,
        client_address, sasl_username;
    unsigned attrs; /* attribute lines in the request */
} maillimit__policy_req;

/* Parse the request at the start of data[0..len). Returns 0 with *consumed = the request's
 * bytes (empty line included), or 0 with *consumed = 0 if no complete request is there yet;
 * MAILLIMIT_EFORMAT with *problem set (static text) if the data can never become a valid
 * request. Never reads past data + len; lines may end in "\n" or "\r\n". */
MAILLIMIT__HIDDEN int maillimit__policy_parse(const char *data, size_t len,
                                              maillimit__policy_req *req, size_t *consumed,
                                              const char **problem);

/* Format the text of a denial ("4.7.0 Message limit reached: ...") without the action word.
 * Exposed for the tests. Returns the length written (always NUL-terminated, truncated). */
MAILLIMIT__HIDDEN size_t maillimit__policy_deny_text(char *buf, size_t size, int unit,
                                                     int attr_level, const char *name,
                                                     int32_t reason, int32_t deny_level,
                                                     int32_t window, int64_t limit,
                                                     int64_t count, int64_t cost,
                                                     int64_t retry_after,
                                                     int subscription_is_name);

/* Parse "ADDR[/PREFIX]" (IPv4 or IPv6, optional brackets) into a 16-byte address (IPv4 as
 * ::ffff:a.b.c.d) and a prefix length counted on those 128 bits. Returns 0 or EINVAL. */
MAILLIMIT__HIDDEN int maillimit__cidr_parse(const char *text, uint8_t addr[16],
                                            unsigned *prefix);

/* ---- conf.c: daemon directives ---------------------------------------------------------- */

enum { MAILLIMIT__LISTEN_MAX = 8 };

typedef struct maillimit__listen {
    char *spec;    /* as written: "inet:127.0.0.1:10031" or "unix:/path" */
    int unix_;     /* 1 unix socket, 0 TCP */
    char *host;    /* TCP: host (brackets removed); unix: NULL */
    int port;      /* TCP port */
    char *path;    /* unix: the path */
    unsigned mode; /* unix: permission bits (default 0600 admin, 0666 policy) */
} maillimit__listen;

typedef struct maillimit__conf {
    maillimit__listen policy[MAILLIMIT__LISTEN_MAX];
    int npolicy;
    maillimit__listen admin[MAILLIMIT__LISTEN_MAX];
    int nadmin;
    char *state_file;        /* NULL: none */
    int64_t snapshot_interval;
    int action, action_code; /* maillimit_policy_action, code (0 default) */
    char *action_dsn;        /* NULL: default */
    char **exempt;           /* CIDR strings */
    int nexempt;
    char **local;
    int nlocal;
    int local_set;           /* 1 if the file set local_network (else the default list) */
    char *notify_command;    /* NULL: none */
    int64_t notify_interval;
    int log_target;          /* maillimit_log_target, or -1 if the file does not say */
    int64_t idle_timeout;    /* seconds */
    int64_t max_connections;
    int replace;             /* reload replace: maillimit_config_apply, else config_load */
} maillimit__conf;

/* Parse the daemon directives of a configuration text. Lines that are daemon directives are
 * blanked in *core_text (a malloc'ed copy of the text with the same number of lines), so that
 * line numbers in the core's messages stay right. conf receives the settings (defaults
 * filled from the default directory). Returns 0, EFORMAT (err: "NAME:LINE: problem"), ENOMEM. */
MAILLIMIT__HIDDEN int maillimit__conf_parse(const char *text, size_t len, const char *name,
                                            maillimit__conf *conf, char **core_text,
                                            char *err, size_t errlen);
MAILLIMIT__HIDDEN void maillimit__conf_free(maillimit__conf *conf);
/* Apply a core text (replace: as the whole configuration), rewriting "<memory>:" in
 * messages to "NAME:". */
MAILLIMIT__HIDDEN int maillimit__conf_core_load(maillimit *ml, const char *text,
                                                const char *name, int replace, char *err,
                                                size_t errlen);
/* Read a whole file (at most 64 MiB). Returns 0, EIO (err says why), ENOMEM. */
MAILLIMIT__HIDDEN int maillimit__read_file(const char *path, char **out, size_t *len,
                                           char *err, size_t errlen);
/* Parse "inet:HOST:PORT" / "unix:PATH"; returns 0 or EINVAL with a message. */
MAILLIMIT__HIDDEN int maillimit__listen_parse(const char *spec, unsigned default_mode,
                                              maillimit__listen *out, char *err,
                                              size_t errlen);
MAILLIMIT__HIDDEN void maillimit__listen_free(maillimit__listen *l);

/* ---- admin.c: the admin protocol (msgpack-RPC) ----------------------------------------- */

/* What the admin dispatcher needs from its host (the server): reload and snapshot. */
typedef struct maillimit__admin_host {
    maillimit *ml;
    int (*reload)(void *ctx, char *err, size_t errlen);
    int (*snapshot)(void *ctx, char *err, size_t errlen);
    int (*stats)(void *ctx, uint64_t out[12]); /* the server's counters, or NULL */
    /* the recent events the server logged, seq > since, packed as an array; or NULL */
    int (*events)(void *ctx, uint64_t since, void *packer);
    void *ctx;
} maillimit__admin_host;

/* A decoded request: [0, msgid, method, params]. */
typedef struct maillimit__admin_req {
    uint32_t msgid;
    int notify;         /* 1: a notification [2, method, params]: no response */
    char method[48];
    const void *params; /* a msgpack_object * (array), valid while the unpacked zone lives */
} maillimit__admin_req;

/* Decode one msgpack object as a request. Returns 0 or EFORMAT (problem set). */
MAILLIMIT__HIDDEN int maillimit__admin_decode(const void *object, maillimit__admin_req *req,
                                              const char **problem);
/* Handle one complete request message at data[0..len): writes the response into a
 * malloc'ed buffer. Returns 0 (a response, possibly an error response), EFORMAT (not a
 * request at all: the connection should be closed), ENOMEM. *consumed: bytes used, 0 if
 * the data hold no complete message yet. */
MAILLIMIT__HIDDEN int maillimit__admin_handle(const maillimit__admin_host *host,
                                              const char *data, size_t len, size_t *consumed,
                                              char **reply, size_t *replylen);
enum { MAILLIMIT__ADMIN_MSG_MAX = 65536 }; /* bytes of one admin request */

/* Pack one event as the admin protocol's map (packer: a msgpack_packer *). */
MAILLIMIT__HIDDEN void maillimit__admin_pack_event(void *packer, const maillimit_event *ev);
MAILLIMIT__HIDDEN void maillimit__admin_pack_array(void *packer, size_t n);

/* Find the end of the first msgpack object in data[0..len) without allocating: returns 0 with
 * *msglen = its length, 0 with *msglen = 0 if incomplete, EFORMAT if it is not msgpack (an
 * unused type byte, nesting deeper than 32, or more elements than max bytes could hold) or
 * longer than max bytes. */
MAILLIMIT__HIDDEN int maillimit__msgpack_scan(const char *data, size_t len, size_t max,
                                              size_t *msglen);

/* server.c: counters for the admin "stats" method: requests, allow, deny, pass, failopen,
 * garbage, connections, refused, open policy connections, admin requests, started_at. */
MAILLIMIT__HIDDEN int maillimit__server_stats(maillimit_server *s, uint64_t out[12]);

#endif

/* SPDX-License-Identifier: MIT */
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

struct maillimit__milter_ctx;

/* ---- policy.c: the request parser (a pure function) ------------------------------------ */

/* A value inside the parsed buffer: not NUL-terminated; p == NULL when absent. */
typedef struct maillimit__str {
    const char *p;
    size_t n;
} maillimit__str;

/* The attributes the policy uses; every other attribute is skipped. */
typedef struct maillimit__policy_req {
    maillimit__str request, protocol_state, instance, sender, recipient, recipient_count,
        client_address, sasl_username, caller_uid;
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

/* Decide on a parsed request (the policy's attribution and message table); o is reset. */
MAILLIMIT__HIDDEN void maillimit__policy_decide(maillimit_policy *p,
                                                const maillimit__policy_req *r, int64_t now,
                                                maillimit_policy_outcome *o);
/* Local submissions that name their submitter (Exim's caller_uid attribute) are attributed
 * with these settings (borrowed; NULL: caller_uid is ignored). */
/* A decider used instead of maillimit_decide() by the requests that follow (fn NULL: back to
 * maillimit_decide): 0 with *v set, a negative MAILLIMIT_E* (fail open), or
 * MAILLIMIT__DECIDE_PENDING: the verdict comes later; maillimit_policy_request() then
 * consumes nothing, writes no reply and sets outcome->result to MAILLIMIT__POLICY_PENDING,
 * and the caller runs the same request again (same now) once the hook has the verdict.
 * Used by maillimitd's cluster_redis (cluster.c). */
typedef int (*maillimit__decide_hook)(void *ud, int level, const char *name, int64_t cost,
                                      int64_t now, maillimit_verdict *v);
enum { MAILLIMIT__DECIDE_PENDING = 1, MAILLIMIT__POLICY_PENDING = 100 };
MAILLIMIT__HIDDEN void maillimit__policy_hook_set(maillimit_policy *p, maillimit__decide_hook fn,
                                                  void *ud);
MAILLIMIT__HIDDEN void maillimit__policy_local_set(maillimit_policy *p,
                                                   struct maillimit__milter_ctx *ctx);
/* The text of a denial outcome ("Message limit reached: ..."), without code or action. */
MAILLIMIT__HIDDEN size_t maillimit__policy_text(const maillimit_policy *p,
                                                const maillimit_policy_outcome *o, char *buf,
                                                size_t size);
/* An outcome's decision fields from a verdict of `cost` units. */
MAILLIMIT__HIDDEN void maillimit__outcome_verdict(maillimit_policy_outcome *o,
                                                  const maillimit_verdict *v, int64_t cost);
/* The policy's action (a maillimit_policy_action). */
MAILLIMIT__HIDDEN int maillimit__policy_action(const maillimit_policy *p);
/* "CODE DSN " of a refusal: the policy's own for action -1 or its action, else the default
 * of the action given (450 4.7.0 defer, 550 5.7.1 reject). */
MAILLIMIT__HIDDEN void maillimit__policy_code(const maillimit_policy *p, int action, char *buf,
                                              size_t size);

/* Parse "ADDR[/PREFIX]" (IPv4 or IPv6, optional brackets) into a 16-byte address (IPv4 as
 * ::ffff:a.b.c.d) and a prefix length counted on those 128 bits. Returns 0 or EINVAL. */
MAILLIMIT__HIDDEN int maillimit__cidr_parse(const char *text, uint8_t addr[16],
                                            unsigned *prefix);

/* ---- milter.c: the milter protocol, without I/O -------------------------------------------- */

enum {
    MAILLIMIT__MILTER_PACKET_MAX = 262144, /* bytes of one packet (command byte and data) */
    MAILLIMIT__MILTER_REPLY_MAX = 1400     /* bytes of the replies to one packet */
};

/* The name unattributed mail without a sender domain is decided on (never a configured
 * domain: .invalid is reserved, RFC 2606). */
#define MAILLIMIT__UNATTRIBUTED "unattributed.invalid"

/* What a local submission over its limit gets (local_action); also what a milter did. */
enum { MAILLIMIT__LOCAL_HOLD = 0, MAILLIMIT__LOCAL_REJECT = 1, MAILLIMIT__LOCAL_DEFER = 2,
       MAILLIMIT__LOCAL_DISCARD = 3 };

/* Whom a message was attributed to. */
enum { MAILLIMIT__WHO_NONE = 0, MAILLIMIT__WHO_SASL = 1, MAILLIMIT__WHO_SYSUSER = 2,
       MAILLIMIT__WHO_DOMAIN = 3, MAILLIMIT__WHO_UNATTRIBUTED = 4,
       MAILLIMIT__WHO_EXEMPT_USER = 5 };

struct maillimit__sysuser {
    char *login, *subscription;
};

/* Settings shared by the milter connections (the server owns them). */
typedef struct maillimit__milter_ctx {
    maillimit *ml;
    maillimit_policy *policy;     /* SMTP attribution, action and texts */
    int local_action;             /* MAILLIMIT__LOCAL_* */
    char origin[256];             /* lower case; "" until known */
    char **exempt_users;          /* local_exempt_users (lower case; borrowed) */
    int nexempt_users;
    char **script_users;          /* script_users (lower case; borrowed) */
    int nscript_users;
    struct maillimit__sysuser *sysusers; /* sorted by login; listed again when the */
    size_t nsysusers;                    /* handle's generation changes */
    uint64_t generation;
    maillimit__decide_hook hook;  /* local submissions: decides instead of maillimit_decide */
    void *hook_ud;                /* (cluster_redis, see maillimit__policy_hook_set) */
} maillimit__milter_ctx;

/* One connection's state. */
typedef struct maillimit__milter_session {
    int local;                    /* 1: local_milter_listen (local submissions) */
    int negotiated;
    uint32_t version, actions, proto;
    int in_message, sender_bad;
    int64_t rcpts;
    char client[64];
    char auth[MAILLIMIT_NAME_MAX + 4];
    char sender[MAILLIMIT_NAME_MAX + 4];
    char queue_id[64];
} maillimit__milter_session;

/* What one packet amounted to. */
typedef struct maillimit__milter_event {
    char cmd;
    int decided;                  /* an END-OF-MESSAGE was decided (see outcome) */
    int aborted;                  /* a message was abandoned before its end */
    int quit;                     /* SMFIC_QUIT: close the connection */
    int pending;                  /* END-OF-MESSAGE waits for a hook's verdict: nothing was
                                     consumed; run the same packet again once it is there */
    int who;                      /* MAILLIMIT__WHO_* */
    int level;                    /* the level decided on, or -1 */
    int action;                   /* a denial's MAILLIMIT__LOCAL_* */
    char name[MAILLIMIT_NAME_MAX + 4];  /* the entity decided on */
    char login[MAILLIMIT_NAME_MAX + 4]; /* SASL login or system user, "" if none */
    char sender[MAILLIMIT_NAME_MAX + 4];
    char queue_id[64];
    char text[700];               /* a denial's text */
    maillimit_policy_outcome outcome;
    const char *problem;          /* EFORMAT: what was wrong (static text) */
} maillimit__milter_event;

/* Cut the packet at data[0..len): 0 with *consumed = its size (length word included), 0 with
 * *consumed = 0 if incomplete, EFORMAT (*problem) for a length of 0 or over the maximum. */
MAILLIMIT__HIDDEN int maillimit__milter_frame(const char *data, size_t len, char *cmd,
                                              const char **payload, size_t *plen,
                                              size_t *consumed, const char **problem);
MAILLIMIT__HIDDEN void maillimit__milter_session_init(maillimit__milter_session *s, int local);
/* Handle the packet at data[0..len) (nothing if incomplete: *consumed 0); the replies go to
 * reply (MAILLIMIT__MILTER_REPLY_MAX bytes). Returns 0 or EFORMAT (ev->problem; close). */
MAILLIMIT__HIDDEN int maillimit__milter_packet(maillimit__milter_ctx *c,
                                               maillimit__milter_session *s, const char *data,
                                               size_t len, int64_t now, size_t *consumed,
                                               char *reply, size_t *replylen,
                                               maillimit__milter_event *ev);
/* Attribute a local submission by its envelope sender (no brackets): ev->who, level, name,
 * login. Returns 0 or an error listing the system users. */
MAILLIMIT__HIDDEN int maillimit__milter_local_attribute(maillimit__milter_ctx *c,
                                                        const char *sender,
                                                        maillimit__milter_event *ev);
/* Attribute a local submission by the login that submitted it (Exim's caller_uid): a system
 * user → its subscription; a script user → script mail of the sender's domain; a
 * local_exempt_users login → MAILLIMIT__WHO_EXEMPT_USER; anyone else (login NULL: an unknown
 * uid) → unattributed. sender: the envelope sender (no brackets; may be empty). */
MAILLIMIT__HIDDEN int maillimit__local_attribute_login(maillimit__milter_ctx *c,
                                                       const char *login, const char *sender,
                                                       maillimit__milter_event *ev);
MAILLIMIT__HIDDEN void maillimit__milter_ctx_clear_sysusers(maillimit__milter_ctx *c);
MAILLIMIT__HIDDEN void maillimit__milter_ctx_free(maillimit__milter_ctx *c);

/* ---- sendermap.c: Postfix's local_login_sender_maps table ------------------------------ */

/* The table's text: each system user (not a script user) may use its own address (LOGIN and
 * LOGIN@origin) and any address in its subscription's domains. A malloc'ed text in *out.
 * warn (optional) receives a note about system users that are also script users. */
MAILLIMIT__HIDDEN int maillimit__sendermap_build(maillimit *ml, const char *origin,
                                                 char *const *script_users, int nscript,
                                                 char **out, size_t *outlen, char *warn,
                                                 size_t warnlen);
/* Replace path atomically by text (mode 0644): temporary file, fsync, rename, fsync dir. */
MAILLIMIT__HIDDEN int maillimit__sendermap_write(const char *path, const char *text,
                                                 size_t len, char *err, size_t errlen);

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
    int log_target;          /* maillimit_server_log_target, or -1 if the file does not say */
    int64_t idle_timeout;    /* seconds */
    int64_t max_connections;
    int replace;             /* reload replace: maillimit_config_apply, else config_load */
    /* milters (docs/milter.md) */
    maillimit__listen milter[MAILLIMIT__LISTEN_MAX];       /* milter_listen */
    int nmilter;
    maillimit__listen local_milter[MAILLIMIT__LISTEN_MAX]; /* local_milter_listen */
    int nlocal_milter;
    char *sender_map_file;   /* local_login_sender_map_file; NULL: none */
    char *local_origin;      /* NULL: Postfix's myorigin (postconf) */
    char **exempt_users;     /* local_exempt_users */
    int nexempt_users;
    char **script_users;     /* script_users (default www-data) */
    int nscript_users;
    int local_action;        /* MAILLIMIT__LOCAL_* (default hold) */
    /* the HTTP pages and /metrics (http.h) */
    maillimit__listen http;  /* http_listen; nhttp 0: none */
    int nhttp;
    char *http_token;        /* http_auth_token; NULL: none */
    int log_denials;         /* MAILLIMIT__LOGDENY_* (http.h; default episode) */
    /* several relays sharing their counters (cluster.c, docs/cluster.md) */
    maillimit__listen cluster; /* cluster_redis; ncluster 0: none */
    int ncluster;
    char *cluster_user;      /* user=NAME (Redis 6 ACL); NULL: none */
    char *cluster_password;  /* password=SECRET; NULL: none */
    int cluster_database;    /* database=N (SELECT); default 0 */
    int64_t cluster_timeout; /* timeout=MS: a decision waits at most this long (default 200) */
    char *cluster_prefix;    /* prefix=TEXT of every key (default "maillimit:") */
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
    int (*stats)(void *ctx, uint64_t *out); /* MAILLIMIT__STATS counters, or NULL */
    /* the recent events the server logged, seq > since, packed as an array; or NULL */
    int (*events)(void *ctx, uint64_t since, void *packer);
    void *ctx;
    /* cluster_redis: the cluster-wide count of a window for "status" (0, or EIO when Redis
     * does not answer), or NULL when the counters are not shared */
    int (*cluster_count)(void *ctx, int level, const char *name, int window, int64_t now,
                         int64_t *out);
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
 * garbage, connections, refused, open policy connections, admin requests, started_at;
 * milter messages, allow, deny, pass, aborted, failopen, unattributed. */
enum { MAILLIMIT__STATS = 18 };
MAILLIMIT__HIDDEN int maillimit__server_stats(maillimit_server *s,
                                              uint64_t out[MAILLIMIT__STATS]);

#endif

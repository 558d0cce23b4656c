/* SPDX-License-Identifier: MIT */
/**
 * @file maillimit/server.h
 * @brief libmaillimit's server layer: the Postfix policy delegation protocol, the admin
 *        protocol (msgpack-RPC) and the engine of maillimitd, on libuv.
 *
 * A separate library (`libmaillimit_server`, CMake `maillimit::server`) that links libuv,
 * msgpack-c and the core. A program that embeds only the core (`maillimit.h`) links neither.
 * Every function follows the conventions of `maillimit.h`: an `int` return that is 0 or a
 * negative `MAILLIMIT_E*` code, optional `(err, errlen)` buffers for messages, versioned
 * structs filled by an `_init` function.
 *
 * Two objects:
 * - #maillimit_policy: the policy protocol without any I/O. It parses one request (the
 *   `name=value` lines up to the empty line), attributes the message to a sender, decides on
 *   a #maillimit handle once per message (`instance`) and writes the reply. Usable by any
 *   program that moves the bytes itself.
 * - #maillimit_server: listeners (TCP and unix sockets) for the policy and admin protocols on
 *   a libuv loop (its own, or the caller's), the daemon directives of the configuration file,
 *   snapshots, logging and signals. maillimitd is a thin `main()` around it.
 *
 * Thread safety, in the fixed phrases of `maillimit.h` plus:
 * - "One thread: one thread at a time per object." A policy object keeps a table of the
 *   messages it has seen; the #maillimit handle it decides on may be shared with other threads.
 * - "Loop thread: only from the thread that runs the server's loop (or before it runs)."
 */
#ifndef MAILLIMIT_SERVER_H
#define MAILLIMIT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <maillimit.h>

/* libuv's loop type, named without including uv.h (uv_loop_t is `struct uv_loop_s`). */
struct uv_loop_s;

/* The export macro, as in maillimit.h (repeated so that this header preprocesses alone). */
#ifndef MAILLIMIT_API
#  if defined(_WIN32)
#    define MAILLIMIT_API
#  elif defined(__GNUC__) && __GNUC__ >= 4
#    define MAILLIMIT_API __attribute__((visibility("default")))
#  else
#    define MAILLIMIT_API
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/** @name Constants */
/**@{*/

/** Bounds of the policy protocol. A request that exceeds one is refused (#MAILLIMIT_EFORMAT):
 *  the server logs it and closes the connection. */
enum maillimit_policy_bounds {
    MAILLIMIT_POLICY_LINE_MAX = 2048,     /**< bytes of one `name=value` line, newline included */
    MAILLIMIT_POLICY_ATTRS_MAX = 64,      /**< attributes of one request */
    MAILLIMIT_POLICY_REQUEST_MAX = 16384, /**< bytes of one request, empty line included */
    MAILLIMIT_POLICY_REPLY_MAX = 1024     /**< bytes of a reply; reply buffers need this much */
};

/** What a DENY becomes in the reply (the `action` daemon directive). */
enum maillimit_policy_action {
    /** `action=450 4.7.0 TEXT` (temporary; the client retries) */
    MAILLIMIT_POLICY_ACTION_DEFER = 0,
    /** `action=550 5.7.1 TEXT` (permanent) */
    MAILLIMIT_POLICY_ACTION_REJECT = 1,
    /** `action=HOLD TEXT` (accepted, kept in the hold queue) */
    MAILLIMIT_POLICY_ACTION_HOLD = 2
};

/** The network lists of a policy object. */
enum maillimit_policy_netlist {
    /** clients never limited or counted (default: none) */
    MAILLIMIT_POLICY_NETLIST_EXEMPT = 0,
    /** unauthenticated clients whose mail is script mail of the sender's domain (default:
     *  127.0.0.0/8 and ::1) */
    MAILLIMIT_POLICY_NETLIST_LOCAL = 1
};

/** What a policy request amounted to (#maillimit_policy_outcome.result). */
enum maillimit_policy_result {
    MAILLIMIT_POLICY_PASS = 0,     /**< not outgoing mail of ours: `DUNNO`, nothing counted */
    MAILLIMIT_POLICY_ALLOW = 1,    /**< attributed and allowed: `DUNNO` */
    MAILLIMIT_POLICY_DENY = 2,     /**< attributed and denied: the configured action */
    MAILLIMIT_POLICY_FAILOPEN = 3  /**< the decision failed (see `error`): `DUNNO` */
};

/** Why a request passed (#maillimit_policy_outcome.pass). */
enum maillimit_policy_pass {
    MAILLIMIT_POLICY_PASS_NONE = 0,      /**< the request did not pass */
    MAILLIMIT_POLICY_PASS_EXEMPT = 1,    /**< the client is in an exempt network */
    MAILLIMIT_POLICY_PASS_INBOUND = 2,   /**< unauthenticated, not from a local network */
    MAILLIMIT_POLICY_PASS_NO_SENDER = 3, /**< local client, null or unqualified sender */
    /** no message yet at this stage (CONNECT, HELO, ...; MAIL when counting recipients) */
    MAILLIMIT_POLICY_PASS_STAGE = 4,
    MAILLIMIT_POLICY_PASS_NOT_POLICY = 5 /**< `request` is not `smtpd_access_policy` */
};

/** Where the log goes (maillimit_server_log_set()). */
enum maillimit_server_log_target {
    MAILLIMIT_SERVER_LOG_STDERR = 0,  /**< `ident[PID]: level: text` lines on stderr */
    MAILLIMIT_SERVER_LOG_SYSLOG = 1,  /**< syslog(3), facility LOG_MAIL */
    MAILLIMIT_SERVER_LOG_NONE = 2     /**< nothing (a callback still receives every line) */
};

/** Log priorities, as passed to a log callback (the syslog(3) values). */
enum maillimit_server_log_priority {
    MAILLIMIT_SERVER_LOG_ERR = 3,
    MAILLIMIT_SERVER_LOG_WARNING = 4,
    MAILLIMIT_SERVER_LOG_INFO = 6,
    MAILLIMIT_SERVER_LOG_DEBUG = 7
};

/** Version of the structs this header describes. */
enum maillimit_server_struct_version {
    MAILLIMIT_POLICY_OUTCOME_VERSION = 1 /**< version of #maillimit_policy_outcome */
};
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Policy protocol (no I/O) */
/**@{*/

/** The policy protocol state: settings and the table of recent messages. Opaque. */
typedef struct maillimit_policy maillimit_policy;

/**
 * @brief What one policy request amounted to. Initialise with maillimit_policy_outcome_init().
 * @since 0.1.0
 */
typedef struct maillimit_policy_outcome {
    uint32_t version;      /**< set by maillimit_policy_outcome_init() */
    int32_t result;        /**< a #maillimit_policy_result */
    int32_t pass;          /**< a #maillimit_policy_pass (result PASS), else 0 */
    int32_t level;         /**< attribution: MAILBOX, DOMAIN or SUBSCRIPTION; -1 if none */
    int32_t repeated;      /**< 1: the answer repeats an earlier decision on the same message */
    int32_t error;         /**< result FAILOPEN: the `MAILLIMIT_E*` code of the decision */
    int32_t reason;        /**< the verdict's #maillimit_reason; -1 if nothing was decided */
    int32_t deny_level;    /**< the verdict's level (denying level), or -1 */
    int32_t deny_window;   /**< the verdict's window, or -1 */
    int32_t reserved_;     /**< padding; always 0 */
    int64_t cost;          /**< units decided on by this request (0 if none) */
    int64_t limit;         /**< the verdict's limit */
    int64_t count;         /**< the verdict's count (before this request) */
    int64_t retry_after;   /**< the verdict's retry_after */
    char name[324];        /**< the sender decided on (attribution name), NUL-terminated */
    const char *problem;   /**< #MAILLIMIT_EFORMAT: static text saying what was wrong */
} maillimit_policy_outcome;

/**
 * @brief Initialise an outcome for the version of it this header describes, as
 *        `maillimit_policy_outcome_init(&o, MAILLIMIT_POLICY_OUTCOME_VERSION)` (the rule of
 *        "Structs that grow" in maillimit.h).
 * @param[out] o the outcome.
 * @param[in] version the version the caller was compiled with:
 *            #MAILLIMIT_POLICY_OUTCOME_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p o NULL), #MAILLIMIT_EVERSION (a version this library does
 *         not know).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_policy_outcome_init(maillimit_policy_outcome *o, uint32_t version);

/**
 * @brief Create a policy object deciding on @p ml. Defaults: action defer (450 4.7.0), no
 *        exempt network, local networks 127.0.0.0/8 and ::1, a table of 65536 messages.
 * @param[out] out receives the object; NULL on error.
 * @param[in] ml the handle to decide on; borrowed, must outlive the object.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Pure: no handle, safe anywhere. Free with maillimit_policy_free().
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_policy_new(maillimit_policy **out, maillimit *ml);

/**
 * @brief Free a policy object. NULL is a no-op.
 * @param[in] p the object.
 * @par Thread safety
 *   One thread: one thread at a time per object.
 * @since 0.1.0
 */
MAILLIMIT_API void maillimit_policy_free(maillimit_policy *p);

/**
 * @brief Set what a DENY becomes.
 * @param[in] p the object.
 * @param[in] action a #maillimit_policy_action.
 * @param[in] code the SMTP reply code: 0 for the default (450 defer, 550 reject); defer
 *            takes 421..499, reject 500..599; must be 0 for hold.
 * @param[in] dsn the enhanced status code such as "4.7.1" (NULL: 4.7.0 defer, 5.7.1
 *            reject); its class must match the code's first digit; NULL for hold.
 * @return 0, #MAILLIMIT_EINVAL (nothing changed).
 * @par Thread safety
 *   One thread: one thread at a time per object.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_policy_action_set(maillimit_policy *p, int action, int code,
                                              const char *dsn);

/**
 * @brief Add a network to a list.
 * @param[in] p the object. @param[in] list a #maillimit_policy_netlist.
 * @param[in] cidr `ADDRESS` or `ADDRESS/PREFIX`, IPv4 or IPv6 (brackets allowed:
 *            `[::1]/128`). An IPv4 network also matches IPv4-mapped IPv6 clients.
 * @return 0, #MAILLIMIT_EINVAL (bad text), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   One thread: one thread at a time per object.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_policy_network_add(maillimit_policy *p, int list, const char *cidr);

/**
 * @brief Empty a network list (the local list too: then no client is local).
 * @param[in] p the object. @param[in] list a #maillimit_policy_netlist.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   One thread: one thread at a time per object.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_policy_network_clear(maillimit_policy *p, int list);

/**
 * @brief Handle one policy request found at the start of @p data.
 *
 * The request is the `name=value` lines up to and including the first empty line. If
 * @p data holds no complete request yet (and no bound is exceeded so far), nothing happens:
 * 0 is returned with `*consumed` and `*replylen` set to 0; call again with more data.
 *
 * Otherwise the request is decided and the reply written (`action=...` and an empty line,
 * not NUL-terminated). Attribution, first match wins: client in an exempt network → PASS;
 * `sasl_username` set → the mailbox of that login (as is if it contains `@`, else
 * `login@` the envelope sender's domain; with no sender domain, the login is decided on as a
 * subscription or system user); unauthenticated client in a local network → the envelope
 * sender's domain (script mail); anything else → PASS (inbound mail). A PASS is `DUNNO` and
 * counts nothing.
 *
 * Each message is counted once, by its `instance`: with unit messages, the first request of
 * an instance (MAIL, RCPT, DATA or END-OF-MESSAGE) decides with cost 1 and later requests of
 * the instance get the same answer. With unit recipients, each RCPT request decides on 1
 * unit; at DATA or END-OF-MESSAGE the units not counted yet (`recipient_count`, at least 1,
 * minus the recipients counted at RCPT) are decided on, once. Requests without an instance
 * are decided on one by one. The table remembers the newest 65536 messages for an hour.
 *
 * A failed decision answers `DUNNO` (result FAILOPEN, fail open).
 *
 * @param[in] p the object.
 * @param[in] data the received bytes. @param[in] len their number.
 * @param[in] now Unix seconds, 0 = clock.
 * @param[out] consumed the bytes of the request handled (0 if incomplete).
 * @param[out] reply the reply buffer. @param[in,out] replylen its size in (at least
 *             #MAILLIMIT_POLICY_REPLY_MAX), the reply's length out (0 if incomplete).
 * @param[out] outcome optional (NULL); initialised by maillimit_policy_outcome_init().
 * @return 0, #MAILLIMIT_EINVAL (NULL argument, uninitialised outcome), #MAILLIMIT_ENOBUFS
 *         (`*replylen` below #MAILLIMIT_POLICY_REPLY_MAX; nothing read), #MAILLIMIT_EFORMAT
 *         (a line without `=`, an empty name, a NUL byte, or a bound exceeded; nothing
 *         decided; `outcome->problem` says which; the connection should be closed).
 * @par Thread safety
 *   One thread: one thread at a time per object.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_policy_request(maillimit_policy *p, const char *data, size_t len,
                                           int64_t now, size_t *consumed, char *reply,
                                           size_t *replylen, maillimit_policy_outcome *outcome);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Server: listeners, daemon configuration, snapshots, signals */
/**@{*/

/** A policy and admin server on a libuv loop. Opaque. */
typedef struct maillimit_server maillimit_server;

/**
 * @brief A log callback: receives a #maillimit_server_log_priority, one line (without ident
 *        or newline, valid only during the call) and the callback's userdata.
 */
typedef void (*maillimit_server_log_fn)(int priority, const char *text, void *userdata);

/**
 * @brief Create a server.
 * @param[out] out receives the server; NULL on error.
 * @param[in] ml a handle to serve (borrowed: must outlive the server), or NULL to let the
 *            server create and own one.
 * @param[in] loop a libuv loop to run on (the caller runs it), or NULL for a loop of the
 *            server's own (run by maillimit_server_run()).
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Pure: no handle, safe anywhere. Free with maillimit_server_free().
 * @since 1.0.0 (0.x: maillimit_server_new with `void *loop`)
 */
MAILLIMIT_API int maillimit_server_new(maillimit_server **out, maillimit *ml,
                                      struct uv_loop_s *loop);

/**
 * @brief Free a server: closes whatever is still open (without saving a snapshot) and runs
 *        its own loop until the handles are closed. NULL is a no-op.
 * @param[in] s the server.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API void maillimit_server_free(maillimit_server *s);

/**
 * @brief The handle the server decides on.
 * @param[in] s the server.
 * @return the handle, or NULL if @p s is NULL.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API maillimit *maillimit_server_handle(maillimit_server *s);

/**
 * @brief Load a configuration file with daemon directives (README "maillimitd"):
 *        `policy_listen`, `admin_listen`, `state_file`, `snapshot_interval`, `action`,
 *        `exempt_network`, `local_network`, `notify_command`, `notify_interval`, `log`,
 *        `policy_idle_timeout`, `policy_max_connections`; every other line is core
 *        configuration (maillimit_config_load()). Called again (or maillimit_server_reload()),
 *        it reloads: counters stay, core configuration is applied on top (nothing is removed),
 *        daemon settings are replaced; listener changes take effect at the next start.
 * @param[in] s the server. @param[in] path the file.
 * @param[out] err optional buffer for "FILE:LINE: problem". @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_EIO, #MAILLIMIT_EFORMAT (nothing changed),
 *         #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_config_load(maillimit_server *s, const char *path, char *err,
                                               size_t errlen);

/**
 * @brief Like maillimit_server_config_load() from memory; a reload reads the same text again.
 * @param[in] s the server. @param[in] text the text (need not be NUL-terminated).
 * @param[in] len its length. @param[in] name names the text in messages (NULL: "<memory>").
 * @param[out] err optional message buffer. @param[in] errlen its size.
 * @return as maillimit_server_config_load() without #MAILLIMIT_EIO.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_config_load_mem(maillimit_server *s, const char *text,
                                                   size_t len, const char *name, char *err,
                                                   size_t errlen);

/**
 * @brief Check a configuration file (daemon directives and core configuration) without a
 *        server: everything is parsed and applied to a scratch handle.
 * @param[in] path the file. @param[out] err optional message buffer. @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_EIO, #MAILLIMIT_EFORMAT, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_config_check(const char *path, char *err, size_t errlen);

/**
 * @brief Like maillimit_server_config_check() on text in memory.
 * @param[in] text the text. @param[in] len its length.
 * @param[in] name names the text in messages (NULL: "<memory>").
 * @param[out] err optional message buffer. @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_EFORMAT, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_config_check_mem(const char *text, size_t len,
                                                    const char *name, char *err, size_t errlen);

/**
 * @brief Read the last loaded configuration again (file or text): see
 *        maillimit_server_config_load(). On error the running configuration stays.
 * @param[in] s the server. @param[out] err optional message buffer. @param[in] errlen its size.
 * @return as maillimit_server_config_load(); #MAILLIMIT_EINVAL if nothing was loaded.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_reload(maillimit_server *s, char *err, size_t errlen);

/**
 * @brief Start serving: load the snapshot (`state_file`; a missing file is a first start, a
 *        damaged one is renamed `FILE.bad` and logged), open the listeners, start the timers.
 * @param[in] s the server. @param[out] err optional message buffer. @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL (already started), #MAILLIMIT_EIO (a listener could not be
 *         opened; nothing stays open; @p err says which), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_start(maillimit_server *s, char *err, size_t errlen);

/**
 * @brief Run the server's own loop until the server stops.
 * @param[in] s the server.
 * @return 0, #MAILLIMIT_EINVAL (no own loop, or not started).
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_run(maillimit_server *s);

/**
 * @brief Stop gracefully: close the listeners, answer the requests already received, close
 *        the connections (those mid-request after 2 seconds), save the snapshot, close every
 *        handle of the server; then the loop has nothing left of the server. Idempotent.
 * @param[in] s the server.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_stop(maillimit_server *s);

/**
 * @brief Handle signals on the loop: SIGHUP reloads the configuration, SIGTERM and SIGINT
 *        stop (maillimit_server_stop()); SIGPIPE is ignored (process-wide).
 * @param[in] s the server. @param[in] on 1 to install, 0 to remove.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_EIO.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_signals(maillimit_server *s, int on);

/**
 * @brief Save the snapshot to the `state_file` now (on the calling thread).
 * @param[in] s the server. @param[out] err optional message buffer. @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL (no state file, or no snapshot support in the core),
 *         #MAILLIMIT_EIO, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_snapshot_save(maillimit_server *s, char *err, size_t errlen);

/**
 * @brief Where the log goes; the `log` directive sets it too. Default: stderr.
 * @param[in] s the server.
 * @param[in] target a #maillimit_server_log_target. @param[in] ident the program name in the
 *            lines (copied; NULL: "maillimitd").
 * @param[in] verbose 1 to log every decision at INFO (default: only denials and problems).
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_log_set(maillimit_server *s, int target, const char *ident,
                                           int verbose);

/**
 * @brief Receive every log line as well (on the loop thread).
 * @param[in] s the server.
 * @param[in] cb the callback (NULL removes it); it receives a #maillimit_server_log_priority, the
 *            line without ident or newline, and @p userdata.
 * @param[in] userdata passed to @p cb.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Loop thread: only from the thread that runs the server's loop.
 * @since 1.0.0 (0.x: an inline callback type)
 */
MAILLIMIT_API int maillimit_server_log_callback(maillimit_server *s, maillimit_server_log_fn cb,
                                                void *userdata);

/**
 * @brief The directory for the default admin socket and state file: /var/lib/maillimit if
 *        it is (or can be created) writable, else `$XDG_RUNTIME_DIR/maillimit`, else
 *        `/tmp/maillimit-UID` (created mode 0700; refused if it is not ours).
 * @param[out] buf the path, NUL-terminated. @param[in,out] len its size in, the length
 *             needed (with the NUL) out.
 * @param[in] create 1 to create the directory if missing; 0 only to find an existing one
 *            (`/run/maillimit` if it holds a `maillimitd.sock`, as a packaged maillimitd's
 *            does; else the first of the three that holds one, or exists; the last one if
 *            none does).
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOBUFS, #MAILLIMIT_EIO (no usable directory).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_server_default_dir(char *buf, size_t *len, int create);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* MAILLIMIT_SERVER_H */

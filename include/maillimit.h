/* SPDX-License-Identifier: MIT */
/**
 * @file maillimit.h
 * @brief libmaillimit: limits on outgoing mail per mailbox, domain, subscription and server.
 *
 * The whole stable API in one self-contained header. Every fallible function returns an
 * `int`: 0 (#MAILLIMIT_OK) or a negative `MAILLIMIT_E*` code whose value never changes.
 * Being over a limit is not an error: it is a verdict (#maillimit_verdict).
 *
 * Times are Unix seconds; a `now` of 0 means "read the system clock once".
 *
 * Thread safety: every function says which of these it is, under "Thread safety", in these
 * words:
 * - "Hot path: safe from any number of threads on one handle, lock-free." Decisions,
 *   status and the getters. They never take a lock and never wait (they count themselves in
 *   a per-thread reader counter so that maillimit_tick() knows when removed entities can be
 *   freed), with one exception said where it applies: the first decision for an address
 *   never seen before in a known domain takes the configuration lock to make its implicit
 *   mailbox. They may run concurrently with every call below but maillimit_free().
 * - "Configuration: safe from any thread; serialised by the handle's configuration lock,
 *   never blocks the hot path." Adds, removals, moves, limits, flags, config loading,
 *   snapshots, listings.
 * - "Reports: serialised by the handle's report lock; never blocks deciders." History,
 *   episodes, top lists, summaries, events, maillimit_tick().
 * - "Iterator: one thread at a time per iterator." The iterators' next and close calls.
 * - "Pure: no handle, safe anywhere." Version, error texts, struct initialisers.
 * - "Not thread-safe." Only maillimit_free(), which must not race with anything.
 *
 * Structs that grow: every struct the library fills begins with a `version` that the caller
 * sets with the struct's `_init` function and the version constant of this header, e.g.
 * `maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION)`. A struct only ever grows at its end,
 * and a library reads and writes only the fields of the version the caller set, so a program
 * built against this header keeps working with every later 1.x library, and a later header's
 * struct is refused (#MAILLIMIT_EVERSION from `_init`) by an older library instead of being
 * half filled. Functions taking a struct whose version is 0 or unknown return
 * #MAILLIMIT_EINVAL and write nothing; they write the struct only when they return 0.
 * Language bindings pass the version of the layout they declare.
 */
#ifndef MAILLIMIT_H
#define MAILLIMIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @name Version */
/**@{*/
/** Major version of this header. */
#define MAILLIMIT_VERSION_MAJOR 1
/** Minor version of this header. */
#define MAILLIMIT_VERSION_MINOR 0
/** Patch version of this header. */
#define MAILLIMIT_VERSION_PATCH 0
/** Version of this header as `major*10000 + minor*100 + patch`. */
#define MAILLIMIT_VERSION_NUMBER 10000
/** Version of this header as "major.minor.patch". */
#define MAILLIMIT_VERSION_STRING "1.0.0"
/** The version constants as enum values, for FFI cdefs that drop macros (keep in step). */
enum maillimit_header_version {
    MAILLIMIT_HEADER_VERSION_MAJOR = 1,   /**< as #MAILLIMIT_VERSION_MAJOR */
    MAILLIMIT_HEADER_VERSION_MINOR = 0,   /**< as #MAILLIMIT_VERSION_MINOR */
    MAILLIMIT_HEADER_VERSION_PATCH = 0,   /**< as #MAILLIMIT_VERSION_PATCH */
    MAILLIMIT_HEADER_VERSION_NUMBER = 10000 /**< as #MAILLIMIT_VERSION_NUMBER */
};
/**@}*/

/** Export macro: marks the public symbols of the shared library. */
#ifndef MAILLIMIT_API
#  if defined(_WIN32)
#    define MAILLIMIT_API
#  elif defined(__GNUC__) && __GNUC__ >= 4
#    define MAILLIMIT_API __attribute__((visibility("default")))
#  else
#    define MAILLIMIT_API
#  endif
#endif

/** @name Error codes (pinned forever; new codes are appended) */
/**@{*/
/** Error codes returned by the fallible functions (0 or negative). */
enum maillimit_error {
    MAILLIMIT_OK = 0,         /**< success */
    MAILLIMIT_EINVAL = -1,    /**< invalid argument: NULL handle, bad level/window/name/value */
    MAILLIMIT_ENOMEM = -2,    /**< out of memory; nothing changed */
    MAILLIMIT_ENOTFOUND = -3, /**< the named entity, file or token does not exist */
    MAILLIMIT_EEXISTS = -4,   /**< the entity exists with another placement */
    MAILLIMIT_ERANGE = -5,    /**< a number is out of its range (cost, counter capacity) */
    MAILLIMIT_EIO = -6,       /**< a file could not be read or written */
    MAILLIMIT_EFORMAT = -7,   /**< malformed input (config text, snapshot) */
    MAILLIMIT_ENOBUFS = -8,   /**< the caller's buffer is too small */
    MAILLIMIT_EDONE = -9,     /**< an iterator has no more items */
    MAILLIMIT_EBUSY = -10,    /**< the resource is in use */
    MAILLIMIT_EVERSION = -11  /**< unsupported version (struct or file format) */
};
/**@}*/

/** @name Levels, windows, special limit values, decisions */
/**@{*/
/** Levels of the hierarchy, top to bottom. */
enum maillimit_level {
    MAILLIMIT_LEVEL_SERVER = 0,       /**< the server (the whole installation) */
    MAILLIMIT_LEVEL_PLAN = 1,         /**< a plan: a bundle of defaults, no counter */
    MAILLIMIT_LEVEL_SUBSCRIPTION = 2, /**< a subscription (and its system users) */
    MAILLIMIT_LEVEL_DOMAIN = 3,       /**< a domain of a subscription */
    MAILLIMIT_LEVEL_MAILBOX = 4       /**< a mailbox `local@domain` */
};
/** Windows: sliding hour (60 one-minute slots), sliding day (24 one-hour slots). */
enum maillimit_window {
    MAILLIMIT_WINDOW_HOUR = 0, /**< the sliding hour */
    MAILLIMIT_WINDOW_DAY = 1   /**< the sliding day */
};
/** Special limit (and flag) values. */
enum maillimit_special {
    MAILLIMIT_UNLIMITED = -1, /**< no limit */
    MAILLIMIT_DEFAULT = -2    /**< not set here: inherit from the nearest ancestor */
};
/** Decisions. */
enum maillimit_decision {
    MAILLIMIT_ALLOW = 0, /**< the request may be sent */
    MAILLIMIT_DENY = 1   /**< the request must not be sent */
};
/** Why a verdict is what it is. See maillimit_decide() for the precedence. */
enum maillimit_reason {
    MAILLIMIT_REASON_NONE = 0,       /**< allowed within every limit */
    MAILLIMIT_REASON_LIMIT = 1,      /**< denied by a limit (level and window say which) */
    MAILLIMIT_REASON_EXEMPT = 2,     /**< allowed: the sender or an ancestor is exempt */
    MAILLIMIT_REASON_DISABLED = 3,   /**< allowed: the master switch is off */
    MAILLIMIT_REASON_UNKNOWN = 4,    /**< allowed: the sender is not attributable */
    MAILLIMIT_REASON_NOT_ALLOWED = 5 /**< denied: the sendmail flag is off */
};
/** Flags, inherited like limits. */
enum maillimit_flag {
    MAILLIMIT_FLAG_SENDMAIL = 0, /**< subscription-level senders may send mail at all */
    MAILLIMIT_FLAG_EXEMPT = 1    /**< mail of the entity and below is allowed, counted in no limit */
};
/** What one unit of cost is (a server setting the integrations read). */
enum maillimit_unit {
    MAILLIMIT_UNIT_MESSAGES = 0,  /**< one unit per message */
    MAILLIMIT_UNIT_RECIPIENTS = 1 /**< one unit per recipient */
};
/** Largest cost of one request. */
enum maillimit_limits_const {
    MAILLIMIT_COST_MAX = 1000000, /**< largest cost of one request */
    MAILLIMIT_NAME_MAX = 320      /**< longest name in bytes */
};
/**@}*/

/** The handle: hierarchy, limits, flags and counters. Opaque. */
typedef struct maillimit maillimit;

/**
 * @brief The outcome of a decision. Initialise with maillimit_verdict_init().
 * @since 0.1.0
 */
typedef struct maillimit_verdict {
    uint32_t version;     /**< set by maillimit_verdict_init() */
    int32_t decision;     /**< #MAILLIMIT_ALLOW or #MAILLIMIT_DENY */
    int32_t reason;       /**< a #maillimit_reason */
    int32_t level;        /**< denying level, or -1 */
    int32_t window;       /**< denying window, or -1 */
    int32_t reserved_;    /**< padding; always 0 */
    int64_t limit;        /**< limit of the denying counter (allowed: sender's hourly); -1 unlimited */
    int64_t count;        /**< count of that counter before this request */
    int64_t retry_after;  /**< seconds until the request would fit; -1 never; 0 when allowed */
    uint64_t token;       /**< for maillimit_commit() / maillimit_release(); 0 when denied */
} maillimit_verdict;

/**
 * @brief The state of one entity's counter. Initialise with maillimit_status_init().
 * @since 0.1.0
 */
typedef struct maillimit_status {
    uint32_t version;     /**< set by maillimit_status_init() */
    int32_t sending;      /**< 1: one more unit would be allowed now; 0: "not sending" */
    int32_t blocked_by;   /**< level that blocks (own or ancestor, any window), or -1 */
    int32_t reserved_;    /**< padding; always 0 */
    int64_t count;        /**< own counter in the asked window (children included) */
    int64_t limit;        /**< effective limit of that counter; -1 unlimited */
    int64_t remaining;    /**< max(0, limit - count); -1 unlimited */
    int64_t retry_after;  /**< seconds until one unit fits; -1 never; 0 if sending */
    int64_t reset_after;  /**< seconds until the own window count is back to 0 */
} maillimit_status;

/**
 * @brief One request of maillimit_decide_many(): what maillimit_decide() takes besides the
 *        handle, the time and the verdict. Initialise with maillimit_request_init(), then set
 *        the fields. The library only reads it.
 * @since 1.0.0
 */
typedef struct maillimit_request {
    uint32_t version;     /**< set by maillimit_request_init() */
    int32_t level;        /**< as maillimit_decide()'s level (starts as #MAILLIMIT_LEVEL_MAILBOX) */
    const char *sender;   /**< as maillimit_decide()'s sender (starts NULL) */
    int64_t cost;         /**< 1..#MAILLIMIT_COST_MAX units (starts at 1) */
} maillimit_request;

/** Version of the structs above that this header describes. */
enum maillimit_struct_version {
    MAILLIMIT_VERDICT_VERSION = 1, /**< version of #maillimit_verdict */
    MAILLIMIT_STATUS_VERSION = 1,  /**< version of #maillimit_status */
    MAILLIMIT_REQUEST_VERSION = 1  /**< version of #maillimit_request */
};

/* ---------------------------------------------------------------------------------------- */
/** @name Library information */
/**@{*/

/**
 * @brief Static text for an error code; never NULL ("unknown error" for unknown codes).
 * @param[in] err a `MAILLIMIT_E*` code or 0.
 * @return a string with static storage duration.
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.1.0
 */
MAILLIMIT_API const char *maillimit_strerror(int err);

/**
 * @brief The name of an error code, for logs and messages a program matches on:
 *        "MAILLIMIT_ENOTFOUND" for #MAILLIMIT_ENOTFOUND; "MAILLIMIT_E?" for unknown codes.
 * @param[in] err a `MAILLIMIT_E*` code or 0 ("MAILLIMIT_OK").
 * @return a string with static storage duration, never NULL.
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.2.0
 */
MAILLIMIT_API const char *maillimit_errname(int err);

/**
 * @brief The run-time library version as `major*10000 + minor*100 + patch`.
 * @return the version number.
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.1.0
 */
MAILLIMIT_API uint32_t maillimit_version_number(void);

/**
 * @brief The run-time library version as "major.minor.patch".
 * @return a static string.
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.1.0
 */
MAILLIMIT_API const char *maillimit_version_string(void);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Lifecycle */
/**@{*/

/**
 * @brief Create a handle: a server with unlimited limits, sendmail on, the switch on,
 *        unit "messages", no plans or subscriptions.
 * @param[out] out receives the handle; set to NULL on error.
 * @return 0, #MAILLIMIT_EINVAL if @p out is NULL, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Pure: no handle, safe anywhere. Free with maillimit_free().
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_new(maillimit **out);

/**
 * @brief Free a handle and everything it owns. NULL is a no-op.
 * @param[in] ml the handle.
 * @par Thread safety
 *   Not thread-safe: nothing else may use @p ml during or after the call.
 * @since 0.1.0
 */
MAILLIMIT_API void maillimit_free(maillimit *ml);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Hierarchy
 * Names compare in ASCII lower case; 1..320 bytes; no control characters, no spaces;
 * bytes >= 0x80 are allowed and compared as they are. Addresses are `local@domain` with
 * exactly one `@`. Adding an entity that exists with the same placement is a no-op
 * returning 0; with another placement it is #MAILLIMIT_EEXISTS (use the move calls).
 */
/**@{*/

/**
 * @brief Add a plan (a named bundle of defaults; plans have no counter).
 * @param[in] ml the handle. @param[in] plan the plan's name.
 * @return 0, #MAILLIMIT_EINVAL (NULL or bad name), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_plan_add(maillimit *ml, const char *plan);

/**
 * @brief Add a subscription, optionally in a plan.
 * @param[in] ml the handle. @param[in] subscription its name. @param[in] plan a plan or NULL.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (plan), #MAILLIMIT_EEXISTS (in another
 *         plan), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_subscription_add(maillimit *ml, const char *subscription,
                                             const char *plan);

/**
 * @brief Add a domain to a subscription.
 * @param[in] ml the handle. @param[in] domain its name. @param[in] subscription its owner.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (subscription), #MAILLIMIT_EEXISTS
 *         (in another subscription), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_domain_add(maillimit *ml, const char *domain,
                                       const char *subscription);

/**
 * @brief Add a mailbox `local@domain`; its domain must exist. An implicit mailbox of the same
 *        address becomes explicit (its counters stay).
 * @param[in] ml the handle. @param[in] address the address.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (domain), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_mailbox_add(maillimit *ml, const char *address);

/**
 * @brief Add a system user (a login whose scripts and cron jobs send as a subscription).
 * @param[in] ml the handle. @param[in] login the login. @param[in] subscription its subscription.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND, #MAILLIMIT_EEXISTS, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_sysuser_add(maillimit *ml, const char *login,
                                        const char *subscription);

/**
 * @brief Remove an entity and its subtree (a plan's subscriptions are only detached;
 *        a subscription's system users go with it). Units already sent stay in the
 *        ancestors' counts.
 * @param[in] ml the handle. @param[in] level a #maillimit_level other than SERVER.
 * @param[in] name the entity's name.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_remove(maillimit *ml, int level, const char *name);

/**
 * @brief Remove a system user.
 * @param[in] ml the handle. @param[in] login the login.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_sysuser_remove(maillimit *ml, const char *login);

/**
 * @brief Attach a system user to another subscription (its mail counts there from now on).
 * @param[in] ml the handle. @param[in] login the login.
 * @param[in] subscription the new subscription.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (login or subscription).
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_sysuser_move(maillimit *ml, const char *login,
                                         const char *subscription);

/**
 * @brief Move a domain to another subscription. The domain keeps its own counts; units it
 *        sent stay in the old subscription; the new one counts its mail from now on.
 * @param[in] ml the handle. @param[in] domain the domain.
 * @param[in] subscription the new subscription.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (domain or subscription).
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_domain_move(maillimit *ml, const char *domain,
                                        const char *subscription);

/**
 * @brief Put a subscription in a plan, or in none (@p plan NULL).
 * @param[in] ml the handle. @param[in] subscription the subscription.
 * @param[in] plan the plan or NULL.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (subscription or plan).
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_subscription_plan_set(maillimit *ml, const char *subscription,
                                                  const char *plan);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Limits, flags and server settings
 * Which target levels each level may set: server → SERVER (the server total), SUBSCRIPTION,
 * DOMAIN, MAILBOX; plan and subscription → SUBSCRIPTION, DOMAIN, MAILBOX; domain → DOMAIN,
 * MAILBOX; mailbox → MAILBOX. The effective limit of a counter is the nearest value that is
 * not #MAILLIMIT_DEFAULT walking mailbox → domain → subscription → plan → server.
 */
/**@{*/

/**
 * @brief Set a limit on @p target_level counters as seen from entity (@p level, @p name).
 * @param[in] ml the handle.
 * @param[in] level the entity's level. @param[in] name its name; NULL for the server.
 * @param[in] target_level whose counters the value limits.
 * @param[in] window #MAILLIMIT_WINDOW_HOUR or #MAILLIMIT_WINDOW_DAY.
 * @param[in] value `N >= 0` units per window (0 blocks), #MAILLIMIT_UNLIMITED or
 *            #MAILLIMIT_DEFAULT (not at the server).
 * @return 0, #MAILLIMIT_EINVAL (target not settable there, value < -2, DEFAULT at the server),
 *         #MAILLIMIT_ENOTFOUND. Takes effect on the next decision; never resets counters.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_limit_set(maillimit *ml, int level, const char *name,
                                      int target_level, int window, int64_t value);

/**
 * @brief The value of a limit as set at an entity (possibly #MAILLIMIT_DEFAULT), so a panel
 *        can show "Default (100)" versus "100".
 * @param[in] ml the handle.
 * @param[in] level the entity's level. @param[in] name its name; NULL for the server.
 * @param[in] target_level whose counters the value limits.
 * @param[in] window a #maillimit_window.
 * @param[out] out the value.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 1.0.0 (0.x: maillimit_limit_value)
 */
MAILLIMIT_API int maillimit_limit_configured(maillimit *ml, int level, const char *name,
                                        int target_level, int window, int64_t *out);

/**
 * @brief The effective limit of entity (@p level, @p name)'s own counter.
 * @param[in] ml the handle.
 * @param[in] level the entity's level (not PLAN). @param[in] name its name; NULL for the server.
 * @param[in] window a #maillimit_window.
 * @param[out] out the limit, or #MAILLIMIT_UNLIMITED.
 * @return 0, #MAILLIMIT_EINVAL (plans have no counter), #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 1.0.0 (0.x: maillimit_limit_get)
 */
MAILLIMIT_API int maillimit_limit_effective(maillimit *ml, int level, const char *name, int window,
                                      int64_t *out);

/**
 * @brief The master switch. Off: every decision is ALLOW (#MAILLIMIT_REASON_DISABLED) and
 *        still counted, so reports stay true.
 * @param[in] ml the handle. @param[in] on 1 or 0.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 1.0.0 (0.x: maillimit_enable)
 */
MAILLIMIT_API int maillimit_enabled_set(maillimit *ml, int on);

/**
 * @brief Read the master switch.
 * @param[in] ml the handle.
 * @param[out] out 1 or 0.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 1.0.0 (0.x: maillimit_enabled)
 */
MAILLIMIT_API int maillimit_enabled_get(maillimit *ml, int *out);

/**
 * @brief Set a flag. SENDMAIL lives at server, plan and subscription; EXEMPT at plan,
 *        subscription, domain and mailbox.
 * @param[in] ml the handle.
 * @param[in] level the entity's level. @param[in] name its name; NULL for the server.
 * @param[in] flag a #maillimit_flag.
 * @param[in] value 0, 1 or #MAILLIMIT_DEFAULT (not at the server).
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_flag_set(maillimit *ml, int level, const char *name, int flag,
                                     int value);

/**
 * @brief The effective value (0 or 1) of a flag at an entity.
 * @param[in] ml the handle.
 * @param[in] level the entity's level. @param[in] name its name; NULL for the server.
 * @param[in] flag a #maillimit_flag.
 * @param[out] out 0 or 1.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 1.0.0 (0.x: maillimit_flag_get)
 */
MAILLIMIT_API int maillimit_flag_effective(maillimit *ml, int level, const char *name, int flag,
                                     int *out);

/**
 * @brief The value of a flag as set at an entity (0, 1 or #MAILLIMIT_DEFAULT).
 * @param[in] ml the handle.
 * @param[in] level the entity's level. @param[in] name its name; NULL for the server.
 * @param[in] flag a #maillimit_flag.
 * @param[out] out the value.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 1.0.0 (0.x: maillimit_flag_value)
 */
MAILLIMIT_API int maillimit_flag_configured(maillimit *ml, int level, const char *name, int flag,
                                       int *out);

/**
 * @brief Set what a unit of cost is. The library does not compute costs; integrations
 *        read this to pass 1 per message or the number of recipients.
 * @param[in] ml the handle. @param[in] unit a #maillimit_unit.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_unit_set(maillimit *ml, int unit);

/**
 * @brief Read the unit setting.
 * @param[in] ml the handle.
 * @param[out] out a #maillimit_unit.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_unit_get(maillimit *ml, int *out);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Decisions */
/**@{*/

/**
 * @brief Initialise a verdict for the version of it this header describes:
 *        `maillimit_verdict_init(&x, MAILLIMIT_VERDICT_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] v the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_VERDICT_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p v NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_verdict_init(maillimit_verdict *v, uint32_t version);

/**
 * @brief Decide whether @p sender may send @p cost units now, and count them if so.
 *
 * @p level names how the sender is attributed: #MAILLIMIT_LEVEL_MAILBOX (an address: counts
 * mailbox, domain, subscription, server), #MAILLIMIT_LEVEL_DOMAIN (a domain name, script
 * mail: counts domain, subscription, server) or #MAILLIMIT_LEVEL_SUBSCRIPTION (a
 * subscription name, else a system-user login: counts subscription, server).
 *
 * ALLOW iff for every counted level and window with a limit, `count + cost <= limit`; then
 * every counter grows by @p cost. Reasons, first match wins: unknown sender → UNKNOWN
 * (counted in the server total only; denied with LIMIT at the server if that is full);
 * exempt → EXEMPT (counted in no limit); switch off → DISABLED (counted everywhere);
 * sendmail off for a subscription-level sender → NOT_ALLOWED (level subscription, window -1,
 * retry_after -1); a limit → LIMIT; else NONE. A denial names the denying level with the
 * largest retry_after (-1 "never" is largest; ties go to the higher level, then the hour).
 *
 * An address whose domain is known but which is not registered is created as an implicit
 * mailbox of that domain with the inherited limits.
 *
 * Never over-admits: with any number of threads, no counter admits more than its limit.
 * A request may be denied when it races with a concurrent rollback of another request, or
 * with the expiry of a minute slot being swept at that instant.
 *
 * @param[in] ml the handle. @param[in] level see above. @param[in] sender the name.
 * @param[in] cost 1..#MAILLIMIT_COST_MAX units. @param[in] now Unix seconds, 0 = clock.
 * @param[out] out the verdict (initialised by maillimit_verdict_init()).
 * @return 0 (the verdict says ALLOW or DENY), #MAILLIMIT_EINVAL (NULL, bad level or name,
 *         now < 0, uninitialised verdict), #MAILLIMIT_ERANGE (cost, or a counter's
 *         capacity: 16777215 units in one minute, 2147483648 in its daily window; nothing
 *         is counted then), #MAILLIMIT_ENOMEM (implicit mailbox).
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free; the first
 *   decision for an address never seen before in a known domain takes the
 *   configuration lock to make its implicit mailbox.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_decide(maillimit *ml, int level, const char *sender, int64_t cost,
                                   int64_t now, maillimit_verdict *out);

/**
 * @brief Like maillimit_decide(), but the counted units stay a reservation until
 *        maillimit_commit() or maillimit_release(). An unreleased reservation simply stays
 *        counted. The handle remembers the newest 16384 reservations; an older token is
 *        no longer known (its units stay counted).
 * @param[in] ml the handle. @param[in] level as maillimit_decide(). @param[in] sender the name.
 * @param[in] cost 1..#MAILLIMIT_COST_MAX units. @param[in] now Unix seconds, 0 = clock.
 * @param[out] out the verdict (initialised by maillimit_verdict_init()).
 * @return as maillimit_decide(); @p out->token is the reservation's token when allowed and
 *         counted (an exempt sender's mail is not counted: its token is that of a decision,
 *         already final).
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free; the first
 *   decision for an address never seen before in a known domain takes the
 *   configuration lock to make its implicit mailbox.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_reserve(maillimit *ml, int level, const char *sender, int64_t cost,
                                    int64_t now, maillimit_verdict *out);

/**
 * @brief Initialise a request for the version of it this header describes:
 *        `maillimit_request_init(&x, MAILLIMIT_REQUEST_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] r the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_REQUEST_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p r NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_request_init(maillimit_request *r, uint32_t version);

/**
 * @brief Decide @p n requests at one time @p now, in order: the same verdicts, counts,
 *        reports and episodes as @p n maillimit_decide() calls one after the other, in less
 *        time when the senders' data is not in the CPU's caches (the lookups of several
 *        requests overlap).
 *
 * Request i is decided as `maillimit_decide(ml, req[i].level, req[i].sender, req[i].cost,
 * now, &out[i])` would be after requests 0..i-1: an address of a known domain that is not
 * registered becomes an implicit mailbox, and a later request of the same batch finds it.
 * Other threads' decisions and changes interleave with the batch's requests as with
 * separate calls, except that the senders are looked up up to 16 requests ahead: a sender
 * another thread removes meanwhile may still be counted as it was by those requests, as by
 * a single call that found it just before the removal. A time of 0 reads the clock once
 * for the whole batch.
 *
 * The arrays stride by their first element's version: every request must carry the version
 * of @p req[0], and every verdict written takes the version of @p out[0] (only @p out[0]
 * needs maillimit_verdict_init(); its version is copied into the others).
 *
 * On an error, the requests before the failing one were decided (their verdicts written and
 * counted), the failing one and those after it were not (their verdicts untouched), as if
 * the loop of single calls had stopped at the first error.
 *
 * @param[in] ml the handle.
 * @param[in] req @p n requests (maillimit_request_init()); may be NULL when @p n is 0.
 * @param[in] n how many; 0 decides nothing and returns 0.
 * @param[in] now Unix seconds, 0 = clock.
 * @param[out] out @p n verdicts (@p out[0] initialised by maillimit_verdict_init()); may be
 *             NULL when @p n is 0.
 * @param[out] done if not NULL: how many requests were decided: @p n on success, else the
 *             index of the failing request (0 when the call itself was refused).
 * @return 0 (every request decided: each verdict says ALLOW or DENY), or the error of the
 *         first failing request as maillimit_decide() returns it (#MAILLIMIT_EINVAL: bad
 *         level, NULL or invalid sender, or a version other than @p req[0]'s;
 *         #MAILLIMIT_ERANGE: cost or a counter's capacity; #MAILLIMIT_ENOMEM), or
 *         #MAILLIMIT_EINVAL for the call itself (NULL handle, NULL @p req or @p out with
 *         @p n > 0, an unknown version of @p req[0] or @p out[0], now < 0) before anything is
 *         decided.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free; the first
 *   decision for an address never seen before in a known domain takes the
 *   configuration lock to make its implicit mailbox.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_decide_many(maillimit *ml, const maillimit_request *req, size_t n,
                                        int64_t now, maillimit_verdict *out, size_t *done);

/**
 * @brief Make a reservation final.
 * @param[in] ml the handle. @param[in] token from maillimit_reserve().
 * @return 0, #MAILLIMIT_EINVAL (NULL handle, token 0), #MAILLIMIT_ENOTFOUND (unknown,
 *         already committed or released, or a token of maillimit_decide()).
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_commit(maillimit *ml, uint64_t token);

/**
 * @brief Give a reservation's units back, to the minute and hour slots they were counted in
 *        (nothing happens for slots that already left their window).
 * @param[in] ml the handle. @param[in] token from maillimit_reserve().
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (as maillimit_commit()).
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_release(maillimit *ml, uint64_t token);

/**
 * @brief Unblock an entity: forget its own window counts (hour and day). Its children's and
 *        ancestors' counts stay.
 * @param[in] ml the handle.
 * @param[in] level the entity's level (not PLAN). @param[in] name its name; NULL: server.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_reset(maillimit *ml, int level, const char *name);

/**
 * @brief Initialise a status for the version of it this header describes:
 *        `maillimit_status_init(&x, MAILLIMIT_STATUS_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] s the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_STATUS_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p s NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_status_init(maillimit_status *s, uint32_t version);

/**
 * @brief The status of an entity's own counter in one window, and whether it could send one
 *        more unit now (every level and both windows considered).
 * @param[in] ml the handle.
 * @param[in] level not PLAN. @param[in] name the entity; NULL for the server.
 * @param[in] window the window of count, limit, remaining and reset_after.
 * @param[in] now Unix seconds, 0 = clock.
 * @param[out] out the status (initialised by maillimit_status_init()).
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_status_get(maillimit *ml, int level, const char *name, int window,
                                       int64_t now, maillimit_status *out);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Configuration text
 * One directive per line, `#` comments, `key=value` options (see README "Configuration").
 * Loading is declarative: entities are created if missing and moved if placed differently;
 * values are set. Nothing is removed and no counter is touched. A file with an error changes
 * nothing; @p err receives "FILE:LINE: problem".
 */
/**@{*/

/**
 * @brief Load a configuration file.
 * @param[in] ml the handle.
 * @param[in] path the file. @param[out] err optional buffer for a message (may be NULL).
 * @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_EIO (unreadable; nothing changed),
 *         #MAILLIMIT_EFORMAT (an error in the text; nothing changed), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_config_load(maillimit *ml, const char *path, char *err,
                                        size_t errlen);

/**
 * @brief Load configuration text from memory; errors are named "<memory>:LINE".
 * @param[in] ml the handle.
 * @param[in] text the text (need not be NUL-terminated). @param[in] len its length.
 * @param[out] err optional buffer for a message (may be NULL). @param[in] errlen its size.
 * @return as maillimit_config_load() without #MAILLIMIT_EIO.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_config_load_mem(maillimit *ml, const char *text, size_t len,
                                            char *err, size_t errlen);

/**
 * @brief Make a configuration file the whole configuration (a reload): like
 *        maillimit_config_load(), and then every value the file does not set goes back to
 *        its default (inherit; at the server unlimited, sendmail on, switch on, unit
 *        messages), a subscription without plan= leaves its plan, and every plan,
 *        subscription, domain, explicit mailbox and system user the file does not define is
 *        removed with its subtree. Counters of the entities that remain are not touched.
 *        A file with an error changes nothing. References (plan=, subscription=, a mailbox's
 *        domain) must name entities the file defines.
 * @param[in] ml the handle. @param[in] path the file.
 * @param[out] err optional buffer for a message (may be NULL). @param[in] errlen its size.
 * @return as maillimit_config_load().
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_config_apply(maillimit *ml, const char *path, char *err,
                                         size_t errlen);

/**
 * @brief maillimit_config_apply() on text in memory; errors are named "<memory>:LINE".
 * @param[in] ml the handle. @param[in] text the text (need not be NUL-terminated).
 * @param[in] len its length. @param[out] err optional buffer for a message (may be NULL).
 * @param[in] errlen its size.
 * @return as maillimit_config_load_mem().
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_config_apply_mem(maillimit *ml, const char *text, size_t len,
                                             char *err, size_t errlen);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Reports and events
 *
 * What an admin needs to find the source of spam. Every entity with a counter (server,
 * subscription, domain, mailbox) has an hourly history of units sent (counted against
 * limits), denied and sent exempt; plans aggregate their subscriptions. A parent's figures
 * include its children's, as its counters do. Hours are clock hours (UTC, `hour_start` is a
 * multiple of 3600). History is kept for the retention period (default 31 days = 744 hours):
 * with a retention of N hours, the current hour and the N - 1 before it. The server's history
 * includes unattributed units (they count in the server total); its summary's `sent` does not.
 *
 * An **episode** is a period during which an entity was over one of its limits: it starts
 * with the first denial by that entity's counter ("reached its limit") and ends when one unit
 * would fit again ("back to normal"), which is computed from the window, so it is exact even
 * if no further mail arrives. An entity reset or a raised limit ends it at the next
 * maillimit_tick() or report call.
 *
 * Events (#MAILLIMIT_EVENT_LIMIT_REACHED, #MAILLIMIT_EVENT_BACK_TO_NORMAL) are one per episode
 * edge, queued in the handle (at most 4096 waiting; when full the oldest is dropped and
 * counted) and pulled with maillimit_events_next(). Deciders hand edges over through a
 * lock-free queue of 16384 that every report call and maillimit_tick() drains; deciders
 * never wait for it: an edge that finds it full (more than 16384 episode edges since the
 * last report call or tick) is lost and counted as a dropped event. Its episode is still in
 * the episode reports; only its events are missing.
 *
 * The library has no thread of its own: closed hours are moved into history and "back to
 * normal" edges are noticed by maillimit_tick() and by every reader below. Call
 * maillimit_tick() at least once every 22 hours (a daemon calls it every minute), or hours
 * older than the daily window are lost from history.
 *
 * The row structs (#maillimit_history_row, #maillimit_episode, #maillimit_top_row) are filled
 * whole by the library, `version` included: the readers of this version write exactly these
 * fields, and a later version that appends fields will come with new reader functions
 * (`_v2`), so a caller compiled against this header is never written past its structs.
 *
 * Readers and maillimit_tick() serialise on the handle's report lock; deciders never take it.
 * Pass readers a `now` that does not go backwards. An episode overlaps [from, to) when it
 * started before `to` and ended at or after `from` (or is ongoing).
 */
/**@{*/

/** Event types. */
enum maillimit_event_type {
    MAILLIMIT_EVENT_LIMIT_REACHED = 1, /**< an episode started: the entity reached its limit */
    MAILLIMIT_EVENT_BACK_TO_NORMAL = 2 /**< an episode ended: one unit would fit again */
};
/** What a top list ranks by. */
enum maillimit_metric {
    MAILLIMIT_METRIC_SENT = 0,  /**< rank by units sent */
    MAILLIMIT_METRIC_DENIED = 1 /**< rank by units denied */
};
/** Versions of the report structs. */
enum maillimit_report_struct_version {
    MAILLIMIT_HISTORY_ROW_VERSION = 1, /**< version of #maillimit_history_row */
    MAILLIMIT_EPISODE_VERSION = 1,     /**< version of #maillimit_episode */
    MAILLIMIT_TOP_ROW_VERSION = 1,     /**< version of #maillimit_top_row */
    MAILLIMIT_SUMMARY_VERSION = 1,     /**< version of #maillimit_summary */
    MAILLIMIT_EVENT_VERSION = 1        /**< version of #maillimit_event */
};
/** Size of the name buffers in report structs (a name and its NUL). */
enum maillimit_name_buffer {
    MAILLIMIT_NAME_BUFFER = 321 /**< #MAILLIMIT_NAME_MAX bytes and a NUL */
};

/** One hour of an entity's history. Initialise with maillimit_history_row_init(). */
typedef struct maillimit_history_row {
    uint32_t version;     /**< set by maillimit_history_row_init() */
    int32_t reserved_;    /**< always 0 */
    int64_t hour_start;   /**< Unix time of the hour's start */
    int64_t sent;         /**< units accepted and counted against limits */
    int64_t denied;       /**< units denied */
    int64_t exempt;       /**< units sent by exempt senders */
} maillimit_history_row;

/** One episode of an entity over its limit. Initialise with maillimit_episode_init(). */
typedef struct maillimit_episode {
    uint32_t version;     /**< set by maillimit_episode_init() */
    int32_t level;        /**< the entity's level */
    int32_t window;       /**< the window whose limit was reached */
    int32_t ongoing;      /**< 1 while still over the limit */
    int64_t started;      /**< time of the first denial */
    int64_t ended;        /**< time it was back to normal; if ongoing, when it will be (-1: not
                               before a limit change or reset) */
    int64_t limit;        /**< the limit reached */
    int64_t denied;       /**< units denied by this entity's limit during the episode */
    char name[MAILLIMIT_NAME_BUFFER]; /**< the entity's name ("" for the server) */
} maillimit_episode;

/** One entity of a top list. Initialise with maillimit_top_row_init(). */
typedef struct maillimit_top_row {
    uint32_t version;     /**< set by maillimit_top_row_init() */
    int32_t level;        /**< the entity's level */
    int64_t sent;         /**< units sent in the range */
    int64_t denied;       /**< units denied in the range */
    int64_t exempt;       /**< units sent exempt in the range */
    char name[MAILLIMIT_NAME_BUFFER]; /**< the entity's name */
} maillimit_top_row;

/** Totals over a time range and scope. Initialise with maillimit_summary_init(). */
typedef struct maillimit_summary {
    uint32_t version;          /**< set by maillimit_summary_init() */
    int32_t reserved_;         /**< always 0 */
    int64_t sent;              /**< units sent (server scope: every attributed unit) */
    int64_t denied;            /**< units denied */
    int64_t exempt;            /**< units sent exempt */
    int64_t unattributed;      /**< units of unknown senders (server scope only, else 0) */
    int64_t limited_entities;  /**< entities in scope with an episode overlapping the range */
} maillimit_summary;

/** A limit edge. Initialise with maillimit_event_init(). */
typedef struct maillimit_event {
    uint32_t version;     /**< set by maillimit_event_init() */
    int32_t type;         /**< a #maillimit_event_type */
    int32_t level;        /**< the entity's level */
    int32_t window;       /**< the window of the limit */
    int64_t time;         /**< when it happened */
    int64_t limit;        /**< the limit reached */
    int64_t denied;       /**< BACK_TO_NORMAL: units denied during the episode; else 0 */
    uint64_t seq;         /**< 1, 2, 3... in queue order; a gap means events were dropped */
    char name[MAILLIMIT_NAME_BUFFER]; /**< the entity's name ("" for the server) */
} maillimit_event;

/** History iterator (opaque). */
typedef struct maillimit_history maillimit_history;
/** Episode iterator (opaque). */
typedef struct maillimit_episodes maillimit_episodes;

/**
 * @brief Move closed hours into history, notice episodes that ended, queue their events,
 *        forget history older than the retention, and give back memory.
 *
 * Memory: removed entities, grown name tables and the state a snapshot load replaced are
 * freed by the first tick after every call that could have seen them has returned (an entity
 * named by a queued event, or whose counters an outstanding reservation holds, waits until
 * the event is read or the token finished). Implicit mailboxes (made by their first decision)
 * are forgotten, once an hour of @p now, when they have counted nothing for 25 hours, hold
 * nothing in their windows, have no open episode and no history within the retention; the
 * next mail from the address makes a new one. A decision racing with that forgetting may
 * count one unit in the forgotten mailbox (its domain and ancestors count it as usual).
 *
 * @param[in] ml the handle. @param[in] now Unix seconds, 0 = clock.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOMEM (history not extended; retried next time).
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders. It also takes the
 *   configuration lock for a moment (after the report lock is released).
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_tick(maillimit *ml, int64_t now);

/**
 * @brief Set how many hours of history are kept (1..87600; default 744 = 31 days).
 * @param[in] ml the handle. @param[in] hours the retention in hours.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_retention_set(maillimit *ml, int64_t hours);

/**
 * @brief Read the retention in hours.
 * @param[in] ml the handle.
 * @param[out] out the retention.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_retention_get(maillimit *ml, int64_t *out);

/**
 * @brief Initialise a history row for the version of it this header describes:
 *        `maillimit_history_row_init(&x, MAILLIMIT_HISTORY_ROW_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] row the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_HISTORY_ROW_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p row NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_history_row_init(maillimit_history_row *row, uint32_t version);

/**
 * @brief Initialise an episode for the version of it this header describes:
 *        `maillimit_episode_init(&x, MAILLIMIT_EPISODE_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] ep the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_EPISODE_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p ep NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_episode_init(maillimit_episode *ep, uint32_t version);

/**
 * @brief Initialise a top-list row for the version of it this header describes:
 *        `maillimit_top_row_init(&x, MAILLIMIT_TOP_ROW_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 *        maillimit_top() takes the first row's version for every row of its array.
 * @param[out] row the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_TOP_ROW_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p row NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_top_row_init(maillimit_top_row *row, uint32_t version);

/**
 * @brief Open the hourly history of an entity for hours starting in [@p from, @p to).
 *        Only hours with traffic are returned, oldest first.
 * @param[in] ml the handle.
 * @param[in] level SERVER (name NULL), PLAN (sum of its subscriptions), SUBSCRIPTION,
 *            DOMAIN or MAILBOX. @param[in] name the entity.
 * @param[in] from,to the range (Unix seconds). @param[in] now Unix seconds, 0 = clock.
 * @param[out] out the iterator; free it with maillimit_history_close().
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders. The iterator is a
 *   copy: it may outlive changes to the handle, not the handle.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_history_open(maillimit *ml, int level, const char *name,
                                         int64_t from, int64_t to, int64_t now,
                                         maillimit_history **out);

/**
 * @brief The next hour of a history.
 * @param[in] it the iterator.
 * @param[out] out the row (initialised by maillimit_history_row_init()).
 * @return 0, #MAILLIMIT_EDONE at the end, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Iterator: one thread at a time per iterator.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_history_next(maillimit_history *it, maillimit_history_row *out);

/**
 * @brief Free a history iterator. NULL is a no-op.
 * @param[in] it the iterator.
 * @par Thread safety
 *   Iterator: one thread at a time per iterator.
 * @since 0.1.0
 */
MAILLIMIT_API void maillimit_history_close(maillimit_history *it);

/**
 * @brief Open the episodes of an entity and every entity below it that overlap
 *        [@p from, @p to), in order of start time (ties: higher level, then name).
 * @param[in] ml the handle.
 * @param[in] level SERVER (name NULL: every entity), SUBSCRIPTION, DOMAIN or MAILBOX.
 * @param[in] name the entity. @param[in] from,to the range (Unix seconds).
 * @param[in] now Unix seconds, 0 = clock.
 * @param[out] out the iterator; free it with maillimit_episodes_close().
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_episodes_open(maillimit *ml, int level, const char *name,
                                          int64_t from, int64_t to, int64_t now,
                                          maillimit_episodes **out);

/**
 * @brief The next episode.
 * @param[in] it the iterator.
 * @param[out] out the episode (initialised by maillimit_episode_init()).
 * @return 0, #MAILLIMIT_EDONE at the end, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Iterator: one thread at a time per iterator.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_episodes_next(maillimit_episodes *it, maillimit_episode *out);

/**
 * @brief Free an episode iterator. NULL is a no-op.
 * @param[in] it the iterator.
 * @par Thread safety
 *   Iterator: one thread at a time per iterator.
 * @since 0.1.0
 */
MAILLIMIT_API void maillimit_episodes_close(maillimit_episodes *it);

/**
 * @brief The entities of one level with the most units sent (or denied) in hours starting
 *        in [@p from, @p to). Ties: the other metric (more first), then the name (bytewise
 *        ascending). Entities with nothing sent, denied or exempt in the range are left out.
 * @param[in] ml the handle.
 * @param[in] level PLAN, SUBSCRIPTION, DOMAIN or MAILBOX. @param[in] metric a #maillimit_metric.
 * @param[in] from,to the range (Unix seconds).
 * @param[in] scope_level SERVER (scope_name NULL: everything), SUBSCRIPTION or DOMAIN.
 * @param[in] scope_name the subtree to list.
 * @param[in] now Unix seconds, 0 = clock.
 * @param[out] rows caller buffer; when @p n is not 0, rows[0] is initialised by
 *             maillimit_top_row_init() and its version is taken for every row.
 * @param[in,out] n in: capacity of @p rows (K); out: rows written.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (scope), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_top(maillimit *ml, int level, int metric, int64_t from, int64_t to,
                                int scope_level, const char *scope_name, int64_t now,
                                maillimit_top_row *rows, size_t *n);

/**
 * @brief Initialise a summary for the version of it this header describes:
 *        `maillimit_summary_init(&x, MAILLIMIT_SUMMARY_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] s the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_SUMMARY_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p s NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_summary_init(maillimit_summary *s, uint32_t version);

/**
 * @brief Totals for hours starting in [@p from, @p to) within a scope.
 * @param[in] ml the handle.
 * @param[in] scope_level SERVER (name NULL), SUBSCRIPTION or DOMAIN.
 * @param[in] scope_name the scope's entity. @param[in] from,to the range (Unix seconds).
 * @param[in] now Unix seconds, 0 = clock.
 * @param[out] out initialised by maillimit_summary_init().
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_summary_get(maillimit *ml, int scope_level, const char *scope_name,
                                        int64_t from, int64_t to, int64_t now,
                                        maillimit_summary *out);

/**
 * @brief Initialise an event for the version of it this header describes:
 *        `maillimit_event_init(&x, MAILLIMIT_EVENT_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] ev the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_EVENT_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p ev NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_event_init(maillimit_event *ev, uint32_t version);

/**
 * @brief Take the oldest queued event.
 * @param[in] ml the handle.
 * @param[in] now Unix seconds, 0 = clock (ended episodes up to @p now are noticed first).
 * @param[out] out initialised by maillimit_event_init().
 * @return 0, #MAILLIMIT_EDONE when the queue is empty, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders.
 * @since 1.0.0 (0.x: maillimit_event_next)
 */
MAILLIMIT_API int maillimit_events_next(maillimit *ml, int64_t now, maillimit_event *out);

/**
 * @brief How many events were dropped because the queue was full.
 * @param[in] ml the handle.
 * @param[out] out the count since the handle was made.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Reports: serialised by the handle's report lock; never blocks deciders.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_events_dropped(maillimit *ml, uint64_t *out);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Listing the hierarchy
 * What a control panel (or maillimitd's sender table for Postfix) needs to show or derive
 * the configured objects: the entities of one level, optionally inside one subtree, and a
 * number that changes whenever the hierarchy does, so a cached listing can be refreshed only
 * when needed.
 */
/**@{*/

/** What maillimit_list_open() can list besides the levels of #maillimit_level. */
enum maillimit_list_level {
    MAILLIMIT_LIST_SYSUSER = 5 /**< system users (aliases of a subscription; no counter) */
};
/** Version of #maillimit_entity. */
enum maillimit_entity_struct_version {
    MAILLIMIT_ENTITY_VERSION = 1 /**< version of #maillimit_entity */
};

/** One listed entity. Initialise with maillimit_entity_init(). */
typedef struct maillimit_entity {
    uint32_t version;     /**< set by maillimit_entity_init() */
    int32_t level;        /**< PLAN, SUBSCRIPTION, DOMAIN, MAILBOX or #MAILLIMIT_LIST_SYSUSER */
    int32_t implicit;     /**< 1: a mailbox made by its first decision (not configured) */
    int32_t reserved_;    /**< always 0 */
    char name[MAILLIMIT_NAME_BUFFER];   /**< the entity's name (lower case) */
    char parent[MAILLIMIT_NAME_BUFFER]; /**< the plan of a subscription ("" if none), the
                                             subscription of a domain or system user, the
                                             domain of a mailbox; "" for a plan */
} maillimit_entity;

/** Listing iterator (opaque). */
typedef struct maillimit_list maillimit_list;

/**
 * @brief Initialise an entity row for the version of it this header describes:
 *        `maillimit_entity_init(&x, MAILLIMIT_ENTITY_VERSION)`
 *        sets the version and each field's starting value ("Structs that grow", above).
 * @param[out] e the struct.
 * @param[in] version the version the caller was compiled with: #MAILLIMIT_ENTITY_VERSION.
 * @return 0, #MAILLIMIT_EINVAL (@p e NULL), #MAILLIMIT_EVERSION (a version this library
 *         does not know: the caller was built against a newer header).
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 1.0.0
 */
MAILLIMIT_API int maillimit_entity_init(maillimit_entity *e, uint32_t version);

/**
 * @brief List the entities of one level, in bytewise order of their names.
 *
 * The iterator is a copy taken when it is opened: later changes to the handle do not show in
 * it, and it may outlive them (not the handle's memory: close it before maillimit_free()).
 *
 * @param[in] ml the handle.
 * @param[in] level PLAN, SUBSCRIPTION, DOMAIN, MAILBOX or #MAILLIMIT_LIST_SYSUSER.
 * @param[in] scope_level SERVER (scope_name NULL: everything), PLAN (its subscriptions and
 *            what is below them), SUBSCRIPTION or DOMAIN: only entities inside that subtree.
 * @param[in] scope_name the subtree's entity.
 * @param[in] implicit 1 to list implicit mailboxes too (created by their first decision),
 *            0 to list only configured entities.
 * @param[out] out the iterator; free it with maillimit_list_close(). NULL on error.
 * @return 0, #MAILLIMIT_EINVAL (bad level or scope, a name with a SERVER scope),
 *         #MAILLIMIT_ENOTFOUND (no such scope entity), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.2.0
 */
MAILLIMIT_API int maillimit_list_open(maillimit *ml, int level, int scope_level,
                                      const char *scope_name, int implicit,
                                      maillimit_list **out);

/**
 * @brief The next listed entity.
 * @param[in] it the iterator.
 * @param[out] out initialised by maillimit_entity_init().
 * @return 0, #MAILLIMIT_EDONE at the end, #MAILLIMIT_EINVAL (NULL, uninitialised row).
 * @par Thread safety
 *   Iterator: one thread at a time per iterator.
 * @since 0.2.0
 */
MAILLIMIT_API int maillimit_list_next(maillimit_list *it, maillimit_entity *out);

/**
 * @brief How many entities the iterator holds in all (those already read included).
 * @param[in] it the iterator. @param[out] out the count.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Iterator: one thread at a time per iterator.
 * @since 0.2.0
 */
MAILLIMIT_API int maillimit_list_count(maillimit_list *it, size_t *out);

/**
 * @brief Free a listing iterator. NULL is a no-op.
 * @param[in] it the iterator.
 * @par Thread safety
 *   Iterator: one thread at a time per iterator.
 * @since 0.2.0
 */
MAILLIMIT_API void maillimit_list_close(maillimit_list *it);

/**
 * @brief A number that grows whenever the hierarchy changes: an entity or system user added
 *        (implicit mailboxes excepted), removed or moved, a subscription's plan changed, a
 *        snapshot loaded. Limits and flags do not change it. Equal numbers mean an earlier
 *        listing is still true.
 * @param[in] ml the handle. @param[out] out the number.
 * @return 0, #MAILLIMIT_EINVAL.
 * @par Thread safety
 *   Hot path: safe from any number of threads on one handle, lock-free.
 * @since 0.2.0
 */
MAILLIMIT_API int maillimit_generation(maillimit *ml, uint64_t *out);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Snapshots
 * The whole state of a handle in one file: server settings, plans, subscriptions, domains,
 * mailboxes (explicit and implicit), system users, every limit and flag as set, the window
 * counters of every entity and of the server, and the counts of exempt and unattributed
 * units. The format (magic, version, msgpack body, CRC-32C) is described in
 * docs/snapshot-format.md. Saving and then loading at the same `now` answers every decision
 * and status exactly as before. Tokens of maillimit_reserve() are not saved: the units of an
 * outstanding reservation are saved as counted, and a load forgets the handle's outstanding
 * tokens (maillimit_commit() and maillimit_release() then return #MAILLIMIT_ENOTFOUND; their
 * units stay counted as the snapshot says).
 */
/**@{*/

/**
 * @brief Save the state to a file, atomically: written to `PATH.tmp.<pid>.<random>` (mode
 *        0600), synced, renamed over @p path, and the directory synced. At every instant
 *        @p path is the previous snapshot or the new one, whatever crashes.
 *
 * The configuration lock is held only while the entities are listed; the values and counters
 * are then read while deciders keep deciding (a save racing with decisions holds each counter
 * as it was at some instant during the save).
 *
 * @param[in] ml the handle. @param[in] path the file (replaced; it becomes mode 0600).
 * @param[out] err optional buffer for a message ("PATH: problem"); may be NULL.
 * @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_EIO (the message names the step and the system's
 *         error; the temporary file is removed and @p path is untouched, except when only
 *         syncing the directory failed), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_snapshot_save(maillimit *ml, const char *path, char *err,
                                          size_t errlen);

/**
 * @brief Replace the whole state of the handle by a snapshot file. Every field is validated
 *        before anything changes: a load that fails changes nothing.
 *
 * Deciders may keep running: a decision concurrent with a load counts in the old state or
 * the new one. The memory of the replaced entities is given back by a later maillimit_tick(),
 * once no decider can still hold them.
 *
 * @param[in] ml the handle. @param[in] path the file.
 * @param[out] err optional buffer for a message ("PATH: problem"); may be NULL.
 * @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOTFOUND (no such file: a first start),
 *         #MAILLIMIT_EIO (unreadable), #MAILLIMIT_EFORMAT (not a snapshot, truncated,
 *         corrupt, or a field out of its range), #MAILLIMIT_EVERSION (written by a newer
 *         library in a newer format), #MAILLIMIT_ERANGE (a counter larger than this build
 *         can hold), #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_snapshot_load(maillimit *ml, const char *path, char *err,
                                          size_t errlen);

/**
 * @brief Save the state into a buffer the library allocates (same bytes as the file).
 * @param[in] ml the handle.
 * @param[out] out receives the buffer; free it with maillimit_buffer_free(). NULL on error.
 * @param[out] outlen receives its length; 0 on error.
 * @param[out] err optional buffer for a message; may be NULL. @param[in] errlen its size.
 * @return 0, #MAILLIMIT_EINVAL, #MAILLIMIT_ENOMEM.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_snapshot_save_mem(maillimit *ml, void **out, size_t *outlen,
                                              char *err, size_t errlen);

/**
 * @brief Replace the whole state by a snapshot in memory; messages name "<memory>".
 * @param[in] ml the handle. @param[in] data the snapshot. @param[in] len its length.
 * @param[out] err optional buffer for a message; may be NULL. @param[in] errlen its size.
 * @return as maillimit_snapshot_load() without #MAILLIMIT_ENOTFOUND and #MAILLIMIT_EIO.
 * @par Thread safety
 *   Configuration: safe from any thread; serialised by the handle's configuration lock, never
 *   blocks the hot path.
 * @since 0.1.0
 */
MAILLIMIT_API int maillimit_snapshot_load_mem(maillimit *ml, const void *data, size_t len,
                                              char *err, size_t errlen);

/**
 * @brief Free a buffer the library allocated for the caller (maillimit_snapshot_save_mem()).
 * @param[in] p the buffer; NULL is a no-op.
 * @par Thread safety
 *   Pure: no handle, safe anywhere.
 * @since 0.1.0
 */
MAILLIMIT_API void maillimit_buffer_free(void *p);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* MAILLIMIT_H */

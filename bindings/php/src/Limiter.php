<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

use FFI;
use FFI\CData;

/**
 * A libmaillimit handle: the hierarchy, limits, flags and counters.
 *
 * Methods mirror the C functions in camelCase (maillimit_domain_add() is domainAdd()).
 * Errors throw a MaillimitException; being over a limit is not an error but a DENY
 * Verdict. Names are strings (any bytes but NUL); the server is null. Every $now is Unix
 * seconds, 0 for the system clock. The handle is freed by close() or when the object is
 * destroyed, whatever order PHP destroys objects in at shutdown; close() first closes the
 * report and listing iterators still open.
 *
 *     $ml = new Maillimit\Limiter();
 *     $ml->subscriptionAdd('acme');
 *     $ml->domainAdd('acme.example', 'acme');
 *     $ml->limitSet(Level::DOMAIN, 'acme.example', Level::MAILBOX, Window::HOUR, 100);
 *     $ok = $ml->decide(Level::MAILBOX, 'ceo@acme.example')->allowed();
 *
 * It implements MaillimitApi, as Client does for a running maillimitd: a panel written
 * against that interface takes either.
 */
final class Limiter implements MaillimitApi
{
    /** A limit value: no limit (also what limitEffective() and Status::$limit report). */
    public const UNLIMITED = -1;
    /** A limit or flag value: inherit from the level above. */
    public const DEFAULT = -2;
    /** Largest cost of one request. */
    public const COST_MAX = 1000000;
    /** Longest name in bytes. */
    public const NAME_MAX = 320;
    /** What list() can list besides the levels of Level: system users (an Entity's $level). */
    public const LIST_SYSUSER = 5;
    /** The versions of the structs this binding passes (each struct's _init takes it). */
    public const VERDICT_VERSION = 1;
    public const STATUS_VERSION = 1;
    public const REQUEST_VERSION = 1;
    public const HISTORY_ROW_VERSION = 1;
    public const EPISODE_VERSION = 1;
    public const TOP_ROW_VERSION = 1;
    public const SUMMARY_VERSION = 1;
    public const EVENT_VERSION = 1;
    public const ENTITY_VERSION = 1;

    private const ERRLEN = 1024;

    private FFI $ffi;
    private ?CData $h = null;
    /** @var \WeakMap<NativeIterator, true> */
    private \WeakMap $iterators;

    public function __construct()
    {
        $this->ffi = Library::ffi();
        $this->iterators = new \WeakMap();
        $p = $this->ffi->new('maillimit*');
        $rc = $this->ffi->maillimit_new(FFI::addr($p));
        if ($rc !== 0) {
            Library::raise($rc, 'maillimit_new');
        }
        $this->h = $p;
    }

    /** Free the handle (maillimit_free()); idempotent. Later calls throw. */
    public function close(): void
    {
        if ($this->h === null) {
            return;
        }
        foreach ($this->iterators as $it => $_) {
            $it->close();
        }
        $h = $this->h;
        $this->h = null;
        $this->ffi->maillimit_free($h);
    }

    public function isClosed(): bool
    {
        return $this->h === null;
    }

    public function __destruct()
    {
        $this->close();
    }

    // -- hierarchy ---------------------------------------------------------------------------

    /** maillimit_plan_add(): add a plan; re-adding is a no-op. */
    public function planAdd(string $plan): void
    {
        $this->call('maillimit_plan_add', [self::name($plan)], self::ctx($plan));
    }

    /** maillimit_subscription_add(): add a subscription, optionally in a plan. */
    public function subscriptionAdd(string $subscription, ?string $plan = null): void
    {
        $this->call('maillimit_subscription_add', [self::name($subscription), self::name($plan)],
            self::ctx($subscription, $plan));
    }

    /** maillimit_domain_add(): add a domain to a subscription. */
    public function domainAdd(string $domain, string $subscription): void
    {
        $this->call('maillimit_domain_add', [self::name($domain), self::name($subscription)],
            self::ctx($domain, $subscription));
    }

    /** maillimit_mailbox_add(): add a mailbox local@domain (its domain must exist). */
    public function mailboxAdd(string $address): void
    {
        $this->call('maillimit_mailbox_add', [self::name($address)], self::ctx($address));
    }

    /** maillimit_sysuser_add(): add a system user of a subscription. */
    public function sysuserAdd(string $login, string $subscription): void
    {
        $this->call('maillimit_sysuser_add', [self::name($login), self::name($subscription)],
            self::ctx($login, $subscription));
    }

    /** maillimit_remove(): remove an entity and its subtree. */
    public function remove(Level|int $level, string $name): void
    {
        $this->call('maillimit_remove', [self::int($level), self::name($name)],
            self::ctx($level, $name));
    }

    /** maillimit_sysuser_remove(): remove a system user. */
    public function sysuserRemove(string $login): void
    {
        $this->call('maillimit_sysuser_remove', [self::name($login)], self::ctx($login));
    }

    /** maillimit_sysuser_move(): attach a system user to another subscription. */
    public function sysuserMove(string $login, string $subscription): void
    {
        $this->call('maillimit_sysuser_move', [self::name($login), self::name($subscription)],
            self::ctx($login, $subscription));
    }

    /** maillimit_domain_move(): move a domain to another subscription. */
    public function domainMove(string $domain, string $subscription): void
    {
        $this->call('maillimit_domain_move', [self::name($domain), self::name($subscription)],
            self::ctx($domain, $subscription));
    }

    /** maillimit_subscription_plan_set(): put a subscription in a plan, or in none (null). */
    public function subscriptionPlanSet(string $subscription, ?string $plan): void
    {
        $this->call('maillimit_subscription_plan_set',
            [self::name($subscription), self::name($plan)], self::ctx($subscription, $plan));
    }

    // -- limits, flags, settings -------------------------------------------------------------

    /**
     * maillimit_limit_set(): the limit on $target counters as seen from entity ($level,
     * $name); $value is N >= 0, UNLIMITED or DEFAULT.
     */
    public function limitSet(Level|int $level, ?string $name, Level|int $target,
                             Window|int $window, int $value): void
    {
        $this->call('maillimit_limit_set', [self::int($level), self::name($name),
            self::int($target), self::int($window), $value],
            self::ctx($level, $name, $target, $window, $value));
    }

    /** maillimit_limit_configured(): the value as set at the entity, possibly DEFAULT. */
    public function limitConfigured(Level|int $level, ?string $name, Level|int $target,
                               Window|int $window): int
    {
        $out = $this->ffi->new('int64_t');
        $this->call('maillimit_limit_configured', [self::int($level), self::name($name),
            self::int($target), self::int($window), FFI::addr($out)],
            self::ctx($level, $name, $target, $window));
        return $out->cdata;
    }

    /** maillimit_limit_effective(): the effective limit of the entity's own counter, or
     *  UNLIMITED. */
    public function limitEffective(Level|int $level, ?string $name,
                             Window|int $window = Window::HOUR): int
    {
        $out = $this->ffi->new('int64_t');
        $this->call('maillimit_limit_effective', [self::int($level), self::name($name),
            self::int($window), FFI::addr($out)], self::ctx($level, $name, $window));
        return $out->cdata;
    }

    /** maillimit_enabled_set(): the master switch. */
    public function enabledSet(bool $on = true): void
    {
        $this->call('maillimit_enabled_set', [$on ? 1 : 0], $on ? 'true' : 'false');
    }

    /** maillimit_enabled_get(): read the master switch. */
    public function enabledGet(): bool
    {
        $out = $this->ffi->new('int');
        $this->call('maillimit_enabled_get', [FFI::addr($out)]);
        return $out->cdata !== 0;
    }

    /** maillimit_flag_set(): set a flag to true, false or DEFAULT. */
    public function flagSet(Level|int $level, ?string $name, Flag|int $flag,
                            bool|int $value): void
    {
        $v = is_bool($value) ? (int)$value : self::int($value);
        $this->call('maillimit_flag_set', [self::int($level), self::name($name),
            self::int($flag), $v], self::ctx($level, $name, $flag, $value));
    }

    /** maillimit_flag_effective(): the effective value of a flag. */
    public function flagEffective(Level|int $level, ?string $name, Flag|int $flag): bool
    {
        $out = $this->ffi->new('int');
        $this->call('maillimit_flag_effective', [self::int($level), self::name($name),
            self::int($flag), FFI::addr($out)], self::ctx($level, $name, $flag));
        return $out->cdata !== 0;
    }

    /** maillimit_flag_configured(): a flag as set at the entity: 0, 1 or DEFAULT. */
    public function flagConfigured(Level|int $level, ?string $name, Flag|int $flag): int
    {
        $out = $this->ffi->new('int');
        $this->call('maillimit_flag_configured', [self::int($level), self::name($name),
            self::int($flag), FFI::addr($out)], self::ctx($level, $name, $flag));
        return $out->cdata;
    }

    /** maillimit_unit_set(): what one unit of cost is. */
    public function unitSet(Unit|int $unit): void
    {
        $this->call('maillimit_unit_set', [self::int($unit)], self::ctx($unit));
    }

    /** maillimit_unit_get(): the unit setting. */
    public function unitGet(): Unit
    {
        $out = $this->ffi->new('int');
        $this->call('maillimit_unit_get', [FFI::addr($out)]);
        return Unit::from($out->cdata);
    }

    // -- decisions ---------------------------------------------------------------------------

    /**
     * maillimit_decide(): may $sender send $cost units now? Counts them if so. Being over a
     * limit is a DENY verdict, not an exception.
     */
    public function decide(Level|int $level, string $sender, int $cost = 1, int $now = 0): Verdict
    {
        return $this->verdict('maillimit_decide', $level, $sender, $cost, $now);
    }

    /**
     * maillimit_reserve(): like decide(), but the units stay a reservation until commit() or
     * release() of the verdict's token.
     */
    public function reserve(Level|int $level, string $sender, int $cost = 1,
                            int $now = 0): Verdict
    {
        return $this->verdict('maillimit_reserve', $level, $sender, $cost, $now);
    }

    /**
     * maillimit_decide_many(): decide a batch of requests at one time, in order: the same
     * verdicts and counts as decide() called for each in turn, faster when the senders are
     * many. Each request is [level, sender] or [level, sender, cost].
     *
     * A bad request (or an error deciding it) throws its exception after the requests before
     * it were decided and counted: $decided then holds their verdicts (so count($decided) is
     * the failing request's index); nothing after it is decided. What the binding refuses
     * itself (not such an array, a sender with a NUL byte, a level that does not fit an int)
     * throws before anything is decided.
     *
     * @param list<array{0: Level|int, 1: string, 2?: int}> $requests
     * @param list<Verdict>|null $decided
     * @return list<Verdict>
     */
    public function decideMany(array $requests, int $now = 0, ?array &$decided = null): array
    {
        $decided = [];
        $h = $this->handle();
        $n = count($requests);
        $reqs = $this->ffi->new('maillimit_request[' . max($n, 1) . ']');
        $bufs = []; // the senders' C strings, alive until the call returns
        $i = 0;
        foreach ($requests as $r) {
            if (!is_array($r) || !array_is_list($r) || count($r) < 2 || count($r) > 3
                || !($r[0] instanceof \BackedEnum || is_int($r[0])) || !is_string($r[1])
                || (count($r) === 3 && !is_int($r[2]))) {
                throw new InvalidArgumentException(ErrorCode::EINVAL->value,
                    Library::strerror(ErrorCode::EINVAL->value), null, "decideMany, request $i",
                    'a request is [level, sender] or [level, sender, cost]');
            }
            $this->init('maillimit_request_init', $reqs[$i], self::REQUEST_VERSION);
            $reqs[$i]->level = self::int($r[0]);
            $s = self::name($r[1]);
            $len = strlen($s);
            $buf = $this->ffi->new('char[' . ($len + 1) . ']');
            if ($len > 0) {
                FFI::memcpy($buf, $s, $len);
            }
            $buf[$len] = "\0";
            $bufs[] = $buf;
            $reqs[$i]->sender = $this->ffi->cast('const char *', FFI::addr($buf[0]));
            $reqs[$i]->cost = $r[2] ?? 1;
            $i++;
        }
        $out = $this->ffi->new('maillimit_verdict[' . max($n, 1) . ']');
        $this->init('maillimit_verdict_init', $out[0], self::VERDICT_VERSION);
        $done = $this->ffi->new('size_t');
        $rc = $this->ffi->maillimit_decide_many($h, $reqs, $n, $now, $out, FFI::addr($done));
        $verdicts = [];
        for ($k = 0; $k < min($done->cdata, $n); $k++) {
            $verdicts[] = Verdict::fromC($out[$k]);
        }
        unset($bufs);
        if ($rc !== 0) {
            $decided = $verdicts;
            $k = $done->cdata;
            $what = $k < $n ? "request $k" : 'the call';
            Library::raise($rc, 'maillimit_decide_many', "$what; $k of $n decided");
        }
        return $verdicts;
    }

    /** A struct's _init with this binding's version; EVERSION (an older library) throws. */
    private function init(string $fn, CData $struct, int $version): void
    {
        $rc = $this->ffi->$fn(FFI::addr($struct), $version);
        if ($rc !== 0) {
            Library::raise($rc, $fn, "version $version");
        }
    }

    private function verdict(string $fn, Level|int $level, string $sender, int $cost,
                             int $now): Verdict
    {
        $h = $this->handle();
        $v = $this->ffi->new('maillimit_verdict');
        $this->init('maillimit_verdict_init', $v, self::VERDICT_VERSION);
        $rc = $this->ffi->$fn($h, self::int($level), self::name($sender), $cost, $now,
            FFI::addr($v));
        if ($rc !== 0) {
            Library::raise($rc, $fn, self::ctx($level, $sender, $cost, $now));
        }
        return Verdict::fromC($v);
    }

    /** maillimit_commit(): make a reservation final. */
    public function commit(int $token): void
    {
        $this->call('maillimit_commit', [$token], (string)$token);
    }

    /** maillimit_release(): give a reservation's units back. */
    public function release(int $token): void
    {
        $this->call('maillimit_release', [$token], (string)$token);
    }

    /** maillimit_reset(): forget the entity's own window counts; null: the server. */
    public function reset(Level|int $level, ?string $name): void
    {
        $this->call('maillimit_reset', [self::int($level), self::name($name)],
            self::ctx($level, $name));
    }

    /** maillimit_status_get(): the status of the entity's own counter in $window. */
    public function status(Level|int $level, ?string $name, Window|int $window = Window::HOUR,
                           int $now = 0): Status
    {
        $h = $this->handle();
        $s = $this->ffi->new('maillimit_status');
        $this->init('maillimit_status_init', $s, self::STATUS_VERSION);
        $rc = $this->ffi->maillimit_status_get($h, self::int($level), self::name($name),
            self::int($window), $now, FFI::addr($s));
        if ($rc !== 0) {
            Library::raise($rc, 'maillimit_status_get', self::ctx($level, $name, $window, $now));
        }
        return Status::fromC($s);
    }

    /** Alias of status(), named like the C function. */
    public function statusGet(Level|int $level, ?string $name, Window|int $window = Window::HOUR,
                              int $now = 0): Status
    {
        return $this->status($level, $name, $window, $now);
    }

    /**
     * The status of each [level, name] pair in $window at $now, in order (what the admin
     * protocol's status.many answers in one request). All or nothing: the first entity that
     * fails throws.
     * @param iterable<array{0: Level|int, 1: ?string}> $items
     * @return list<Status>
     */
    public function statusMany(iterable $items, Window|int $window = Window::HOUR,
                               int $now = 0): array
    {
        $out = [];
        foreach ($items as [$level, $name]) {
            $out[] = $this->status($level, $name, $window, $now);
        }
        return $out;
    }

    // -- reports and events ------------------------------------------------------------------

    /** maillimit_tick(): move closed hours into history, notice ended episodes. */
    public function tick(int $now = 0): void
    {
        $this->call('maillimit_tick', [$now], "now=$now");
    }

    /** maillimit_retention_set(): hours of history kept, 1..87600. */
    public function retentionSet(int $hours): void
    {
        $this->call('maillimit_retention_set', [$hours], (string)$hours);
    }

    /** maillimit_retention_get(): the history retention in hours. */
    public function retentionGet(): int
    {
        $out = $this->ffi->new('int64_t');
        $this->call('maillimit_retention_get', [FFI::addr($out)]);
        return $out->cdata;
    }

    /**
     * maillimit_history_open(): the hours with traffic starting in [$from, $to), oldest
     * first. PLAN sums its subscriptions; SERVER takes the name null.
     * @return NativeIterator<HistoryRow>
     */
    public function historyOpen(Level|int $level, ?string $name, int $from, int $to,
                                int $now = 0): NativeIterator
    {
        return $this->open('maillimit_history_open', 'maillimit_history_next',
            'maillimit_history_close', 'maillimit_history_row', 'maillimit_history*',
            HistoryRow::fromC(...), 'maillimit_history_row_init', self::HISTORY_ROW_VERSION,
            $level, $name, $from, $to, $now);
    }

    /** historyOpen() as an array. @return list<HistoryRow> */
    public function history(Level|int $level, ?string $name, int $from, int $to,
                            int $now = 0): array
    {
        return $this->historyOpen($level, $name, $from, $to, $now)->toArray();
    }

    /**
     * maillimit_episodes_open(): episodes of an entity and everything below it that overlap
     * [$from, $to), by start time. SERVER with name null: every entity.
     * @return NativeIterator<Episode>
     */
    public function episodesOpen(Level|int $level, ?string $name, int $from, int $to,
                                 int $now = 0): NativeIterator
    {
        return $this->open('maillimit_episodes_open', 'maillimit_episodes_next',
            'maillimit_episodes_close', 'maillimit_episode', 'maillimit_episodes*',
            Episode::fromC(...), 'maillimit_episode_init', self::EPISODE_VERSION, $level, $name,
            $from, $to, $now);
    }

    /** episodesOpen() as an array. @return list<Episode> */
    public function episodes(Level|int $level, ?string $name, int $from, int $to,
                             int $now = 0): array
    {
        return $this->episodesOpen($level, $name, $from, $to, $now)->toArray();
    }

    private function open(string $openName, string $nextName, string $closeName, string $row,
                          string $ptrType, \Closure $convert, string $initName,
                          int $initVersion, Level|int $level, ?string $name, int $from, int $to,
                          int $now): NativeIterator
    {
        $p = $this->ffi->new($ptrType);
        $this->call($openName, [self::int($level), self::name($name), $from, $to, $now,
            FFI::addr($p)], self::ctx($level, $name, $from, $to, $now));
        $it = new NativeIterator($this->ffi, $p, $nextName, $closeName, $row, $convert,
            $initName, $initVersion);
        $this->iterators[$it] = true;
        return $it;
    }

    /**
     * maillimit_top(): the $k entities of $level with the most units sent (or denied) in
     * hours starting in [$from, $to), within a scope (SERVER/null: everything).
     * @return list<TopRow>
     */
    public function top(Level|int $level, Metric|int $metric, int $from, int $to, int $k = 10,
                        Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                        int $now = 0): array
    {
        if ($k < 0) {
            throw new InvalidArgumentException(ErrorCode::EINVAL->value,
                Library::strerror(ErrorCode::EINVAL->value), 'maillimit_top', null, "k=$k < 0");
        }
        $rows = $this->ffi->new('maillimit_top_row[' . max($k, 1) . ']');
        $this->init('maillimit_top_row_init', $rows[0], self::TOP_ROW_VERSION);
        $n = $this->ffi->new('size_t');
        $n->cdata = $k;
        $this->call('maillimit_top', [self::int($level), self::int($metric), $from, $to,
            self::int($scopeLevel), self::name($scopeName), $now, $rows, FFI::addr($n)],
            self::ctx($level, $metric, $from, $to, $k, $scopeLevel, $scopeName));
        $out = [];
        for ($i = 0; $i < min($n->cdata, $k); $i++) {
            $out[] = TopRow::fromC($rows[$i]);
        }
        return $out;
    }

    /** maillimit_summary_get(): totals for hours starting in [$from, $to) within a scope. */
    public function summary(Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                            int $from = 0, int $to = 0, int $now = 0): Summary
    {
        $s = $this->ffi->new('maillimit_summary');
        $this->init('maillimit_summary_init', $s, self::SUMMARY_VERSION);
        $this->call('maillimit_summary_get', [self::int($scopeLevel), self::name($scopeName),
            $from, $to, $now, FFI::addr($s)], self::ctx($scopeLevel, $scopeName, $from, $to));
        return Summary::fromC($s);
    }

    /** Alias of summary(), named like the C function. */
    public function summaryGet(Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                               int $from = 0, int $to = 0, int $now = 0): Summary
    {
        return $this->summary($scopeLevel, $scopeName, $from, $to, $now);
    }

    /** maillimit_events_next(): the oldest queued event, or null when the queue is empty. */
    public function eventsNext(int $now = 0): ?Event
    {
        $h = $this->handle();
        $e = $this->ffi->new('maillimit_event');
        $this->init('maillimit_event_init', $e, self::EVENT_VERSION);
        $rc = $this->ffi->maillimit_events_next($h, $now, FFI::addr($e));
        if ($rc === ErrorCode::EDONE->value) {
            return null;
        }
        if ($rc !== 0) {
            Library::raise($rc, 'maillimit_events_next', "now=$now");
        }
        return Event::fromC($e);
    }

    /** Drain the event queue. @return \Generator<int, Event> */
    public function events(int $now = 0): \Generator
    {
        while (($e = $this->eventsNext($now)) !== null) {
            yield $e;
        }
    }

    /** maillimit_events_dropped(): events dropped because the queue was full. */
    public function eventsDropped(): int
    {
        $out = $this->ffi->new('uint64_t');
        $this->call('maillimit_events_dropped', [FFI::addr($out)]);
        return $out->cdata;
    }

    // -- listing the hierarchy ---------------------------------------------------------------

    /**
     * maillimit_list_open(): the entities of $level (PLAN, SUBSCRIPTION, DOMAIN, MAILBOX or
     * LIST_SYSUSER) in bytewise order of their names. $scopeLevel/$scopeName restrict it to
     * a subtree: SERVER/null (everything), or a PLAN (its subscriptions and what is below
     * them), SUBSCRIPTION or DOMAIN. $implicit lists the mailboxes made by their first
     * decision too. The iterator is a copy taken now: later changes do not show in it. A bad
     * level or scope throws InvalidArgumentException, a scope that does not exist
     * NotFoundException.
     */
    public function listOpen(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                             ?string $scopeName = null, bool $implicit = false): EntityIterator
    {
        $p = $this->ffi->new('maillimit_list*');
        $this->call('maillimit_list_open', [self::int($level), self::int($scopeLevel),
            self::name($scopeName), $implicit ? 1 : 0, FFI::addr($p)],
            ($level === self::LIST_SYSUSER ? 'LIST_SYSUSER, ' : self::ctx($level) . ', ')
                . self::ctx($scopeLevel, $scopeName, $implicit));
        $it = new EntityIterator($this->ffi, $p);
        $this->iterators[$it] = true;
        return $it;
    }

    /** listOpen() as an array; the C iterator is closed before it returns. @return list<Entity> */
    public function list(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                         ?string $scopeName = null, bool $implicit = false): array
    {
        return $this->listOpen($level, $scopeLevel, $scopeName, $implicit)->toArray();
    }

    /**
     * A page of list() with what a panel shows per entity: $count entities (null: all) from
     * $offset, each with the limits and flags it sets as set and the status of its own
     * counter in $window at $now (EntityDetails), the listing's $total and its $generation:
     * what the admin protocol's list answers in one request.
     */
    public function listPage(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                             ?string $scopeName = null, bool $implicit = false,
                             int $offset = 0, ?int $count = null,
                             Window|int $window = Window::HOUR, int $now = 0): ListPage
    {
        if ($offset < 0 || ($count !== null && $count < 0)) {
            throw new InvalidArgumentException(ErrorCode::EINVAL->value,
                Library::strerror(ErrorCode::EINVAL->value), 'listPage', null,
                "offset=$offset, count=" . ($count ?? 'null'));
        }
        $gen = $this->generation();
        $it = $this->listOpen($level, $scopeLevel, $scopeName, $implicit);
        $rows = [];
        try {
            $i = 0;
            foreach ($it as $e) {
                if ($i++ < $offset) {
                    continue;
                }
                if ($count !== null && count($rows) === $count) {
                    break;
                }
                $rows[] = $this->details($e, $window, $now);
            }
        } finally {
            $it->close();
        }
        return new ListPage($gen, count($it), $offset, $rows);
    }

    private function details(Entity $e, Window|int $window, int $now): EntityDetails
    {
        $limits = [];
        $flags = [];
        $status = null;
        $lv = $e->level;
        if ($lv instanceof Level) {
            $first = $lv->value <= Level::SUBSCRIPTION->value ? Level::SUBSCRIPTION->value
                                                              : $lv->value;
            for ($t = $first; $t <= Level::MAILBOX->value; $t++) {
                foreach (Window::cases() as $w) {
                    $key = strtolower(Level::from($t)->name) . '/' . strtolower($w->name);
                    $limits[$key] = self::gone(
                        fn () => $this->limitConfigured($lv, $e->name, $t, $w));
                }
            }
            $fl = $lv->value <= Level::SUBSCRIPTION->value ? [Flag::SENDMAIL, Flag::EXEMPT]
                                                           : [Flag::EXEMPT];
            foreach ($fl as $f) {
                $flags[strtolower($f->name)] = self::gone(
                    fn () => $this->flagConfigured($lv, $e->name, $f));
            }
            if ($lv !== Level::PLAN) {
                $status = self::gone(fn () => $this->status($lv, $e->name, $window, $now));
            }
        }
        return new EntityDetails($lv, $e->name, $e->parent, $e->implicit, $limits, $flags,
            $status);
    }

    /** A value of an entity that may have been removed since it was listed: null then. */
    private static function gone(\Closure $fn): mixed
    {
        try {
            return $fn();
        } catch (NotFoundException) {
            return null;
        }
    }

    /**
     * maillimit_generation(): a number that grows whenever the hierarchy changes (an entity
     * or system user added, implicit mailboxes excepted, removed or moved, a subscription's
     * plan changed, a snapshot loaded); limits and flags do not change it. Equal numbers mean
     * an earlier listing is still true.
     */
    public function generation(): int
    {
        $out = $this->ffi->new('uint64_t');
        $this->call('maillimit_generation', [FFI::addr($out)]);
        return $out->cdata;
    }

    // -- configuration text ------------------------------------------------------------------

    /**
     * maillimit_config_load(): load a configuration file (entities are created or moved,
     * the values it sets are set, nothing is removed). A file with an error changes nothing
     * and throws FormatException whose getDetail() is "FILE:LINE: problem".
     */
    public function configLoad(string $path): void
    {
        $this->configFile('maillimit_config_load', $path);
    }

    /** maillimit_config_load_mem(): load configuration text; errors name "<memory>:LINE". */
    public function configLoadMem(string $text): void
    {
        $this->configMem('maillimit_config_load_mem', $text);
    }

    /**
     * maillimit_config_apply(): make a configuration file the whole configuration (a
     * reload): as configLoad(), then values the file does not set go back to their defaults
     * and entities it does not define are removed. Counters of the entities that remain are
     * kept; a file with an error changes nothing.
     */
    public function configApply(string $path): void
    {
        $this->configFile('maillimit_config_apply', $path);
    }

    /** maillimit_config_apply_mem(): configApply() on text. */
    public function configApplyMem(string $text): void
    {
        $this->configMem('maillimit_config_apply_mem', $text);
    }

    // -- snapshots ---------------------------------------------------------------------------

    /** maillimit_snapshot_save(): save the whole state to a file, atomically. */
    public function snapshotSave(string $path): void
    {
        $this->configFile('maillimit_snapshot_save', $path);
    }

    /**
     * maillimit_snapshot_load(): replace the whole state by a snapshot file. A missing file
     * throws NotFoundException (a first start); a bad one FormatException, VersionException
     * or RangeException; either way nothing changes. Outstanding reservation tokens are
     * forgotten.
     */
    public function snapshotLoad(string $path): void
    {
        $this->configFile('maillimit_snapshot_load', $path);
    }

    /**
     * maillimit_snapshot_save_mem(): the whole state as a binary string, the same bytes as
     * the file (the library's buffer is freed with maillimit_buffer_free()).
     */
    public function snapshotSaveMem(): string
    {
        $h = $this->handle();
        $buf = $this->ffi->new('void*');
        $n = $this->ffi->new('size_t');
        $err = $this->ffi->new('char[' . self::ERRLEN . ']');
        $rc = $this->ffi->maillimit_snapshot_save_mem($h, FFI::addr($buf), FFI::addr($n), $err,
            self::ERRLEN);
        try {
            if ($rc !== 0) {
                Library::raise($rc, 'maillimit_snapshot_save_mem', null, FFI::string($err));
            }
            return $n->cdata > 0 ? FFI::string($buf, $n->cdata) : '';
        } finally {
            $this->ffi->maillimit_buffer_free($buf); // NULL after an error: a no-op
        }
    }

    /** maillimit_snapshot_load_mem(): replace the whole state by a snapshot string. */
    public function snapshotLoadMem(string $data): void
    {
        $this->configMem('maillimit_snapshot_load_mem', $data);
    }

    /** A call (ml, path, err, errlen): configuration files and snapshot files. */
    private function configFile(string $fn, string $path): void
    {
        $err = $this->ffi->new('char[' . self::ERRLEN . ']');
        $rc = $this->ffi->$fn($this->handle(), self::name($path), $err, self::ERRLEN);
        if ($rc !== 0) {
            Library::raise($rc, $fn, self::ctx($path), FFI::string($err));
        }
    }

    /** A call (ml, data, len, err, errlen): configuration text and snapshot bytes. */
    private function configMem(string $fn, string $text): void
    {
        $err = $this->ffi->new('char[' . self::ERRLEN . ']');
        // FFI passes the string's bytes (NULs included) as `const char *` / `const void *`.
        $rc = $this->ffi->$fn($this->handle(), $text, strlen($text), $err, self::ERRLEN);
        if ($rc !== 0) {
            Library::raise($rc, $fn, null, FFI::string($err));
        }
    }

    // -- plumbing ----------------------------------------------------------------------------

    private function handle(): CData
    {
        if ($this->h === null) {
            throw new InvalidArgumentException(ErrorCode::EINVAL->value,
                Library::strerror(ErrorCode::EINVAL->value), null, null,
                'the limiter is closed');
        }
        return $this->h;
    }

    /** @param list<mixed> $args */
    private function call(string $fn, array $args = [], ?string $context = null): void
    {
        $rc = $this->ffi->$fn($this->handle(), ...$args);
        if ($rc !== 0) {
            Library::raise($rc, $fn, $context);
        }
    }

    /** A name for a const char * parameter; C would cut it at a NUL, so that is refused. */
    private static function name(?string $name): ?string
    {
        if ($name !== null && str_contains($name, "\0")) {
            throw new InvalidArgumentException(ErrorCode::EINVAL->value,
                Library::strerror(ErrorCode::EINVAL->value), null, self::ctx($name),
                'a name contains a NUL byte');
        }
        return $name;
    }

    /** An enum or int for a C `int` parameter (must fit 32 bits; FFI would truncate it). */
    private static function int(\BackedEnum|int $v): int
    {
        $i = $v instanceof \BackedEnum ? (int)$v->value : $v;
        if ($i < -2147483648 || $i > 2147483647) {
            throw new InvalidArgumentException(ErrorCode::EINVAL->value,
                Library::strerror(ErrorCode::EINVAL->value), null, null,
                "$i does not fit an int");
        }
        return $i;
    }

    private static function ctx(mixed ...$args): string
    {
        return implode(', ', array_map(static fn(mixed $a): string => match (true) {
            $a === null => 'null',
            $a instanceof \UnitEnum => $a->name,
            is_string($a) => var_export($a, true),
            is_bool($a) => $a ? 'true' : 'false',
            default => (string)$a,
        }, $args));
    }
}

<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * The interface a control panel programs against. Two classes implement it with the same
 * methods, arguments, results and exceptions:
 *
 * - Limiter: a handle of the library in this process (FFI);
 * - Client: a client of a running maillimitd's admin socket (php-msgpack, no FFI).
 *
 * A panel switches by its constructor:
 *
 *     $ml = new Maillimit\Client('/var/lib/maillimit/maillimitd.sock'); // or new Limiter()
 *
 * What only one of them has stays outside: reserve()/commit()/release(), decideMany(),
 * tick(), configuration files and snapshots of the handle in Limiter; ping(), configReload(),
 * snapshot() and stats() of the daemon in Client. See Limiter for each method.
 */
interface MaillimitApi
{
    public function close(): void;

    public function isClosed(): bool;

    // -- hierarchy
    public function planAdd(string $plan): void;

    public function subscriptionAdd(string $subscription, ?string $plan = null): void;

    public function domainAdd(string $domain, string $subscription): void;

    public function mailboxAdd(string $address): void;

    public function sysuserAdd(string $login, string $subscription): void;

    public function remove(Level|int $level, string $name): void;

    public function sysuserRemove(string $login): void;

    public function sysuserMove(string $login, string $subscription): void;

    public function domainMove(string $domain, string $subscription): void;

    public function subscriptionPlanSet(string $subscription, ?string $plan): void;

    // -- limits, flags, settings
    public function limitSet(Level|int $level, ?string $name, Level|int $target,
                             Window|int $window, int $value): void;

    public function limitConfigured(Level|int $level, ?string $name, Level|int $target,
                               Window|int $window): int;

    public function limitEffective(Level|int $level, ?string $name,
                             Window|int $window = Window::HOUR): int;

    public function enabledSet(bool $on = true): void;

    public function enabledGet(): bool;

    public function flagSet(Level|int $level, ?string $name, Flag|int $flag,
                            bool|int $value): void;

    public function flagEffective(Level|int $level, ?string $name, Flag|int $flag): bool;

    public function flagConfigured(Level|int $level, ?string $name, Flag|int $flag): int;

    public function unitSet(Unit|int $unit): void;

    public function unitGet(): Unit;

    // -- decisions and status
    public function decide(Level|int $level, string $sender, int $cost = 1,
                           int $now = 0): Verdict;

    public function reset(Level|int $level, ?string $name): void;

    public function status(Level|int $level, ?string $name, Window|int $window = Window::HOUR,
                           int $now = 0): Status;

    public function statusGet(Level|int $level, ?string $name,
                              Window|int $window = Window::HOUR, int $now = 0): Status;

    /**
     * The status of each [level, name] pair in $window at $now, in order; all or nothing.
     * @param iterable<array{0: Level|int, 1: ?string}> $items
     * @return list<Status>
     */
    public function statusMany(iterable $items, Window|int $window = Window::HOUR,
                               int $now = 0): array;

    // -- reports and events
    public function retentionSet(int $hours): void;

    public function retentionGet(): int;

    /** @return \Traversable<int, HistoryRow> */
    public function historyOpen(Level|int $level, ?string $name, int $from, int $to,
                                int $now = 0): \Traversable;

    /** @return list<HistoryRow> */
    public function history(Level|int $level, ?string $name, int $from, int $to,
                            int $now = 0): array;

    /** @return \Traversable<int, Episode> */
    public function episodesOpen(Level|int $level, ?string $name, int $from, int $to,
                                 int $now = 0): \Traversable;

    /** @return list<Episode> */
    public function episodes(Level|int $level, ?string $name, int $from, int $to,
                             int $now = 0): array;

    /** @return list<TopRow> */
    public function top(Level|int $level, Metric|int $metric, int $from, int $to, int $k = 10,
                        Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                        int $now = 0): array;

    public function summary(Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                            int $from = 0, int $to = 0, int $now = 0): Summary;

    public function summaryGet(Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                               int $from = 0, int $to = 0, int $now = 0): Summary;

    public function eventsNext(int $now = 0): ?Event;

    /** @return \Generator<int, Event> */
    public function events(int $now = 0): \Generator;

    // -- listing
    /** @return \Traversable<int, Entity>&\Countable */
    public function listOpen(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                             ?string $scopeName = null,
                             bool $implicit = false): \Traversable&\Countable;

    /** @return list<Entity> */
    public function list(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                         ?string $scopeName = null, bool $implicit = false): array;

    /**
     * A page of list() with, per entity, its limits and flags as set and the status of its
     * own counter in $window at $now: $count entities (null: all) from $offset.
     */
    public function listPage(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                             ?string $scopeName = null, bool $implicit = false,
                             int $offset = 0, ?int $count = null,
                             Window|int $window = Window::HOUR, int $now = 0): ListPage;

    public function generation(): int;
}

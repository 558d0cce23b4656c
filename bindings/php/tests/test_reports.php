<?php
// SPDX-License-Identifier: MIT

/** tick, retentionSet/Get, historyOpen/history, episodesOpen/episodes, top, summary,
 * eventsNext/events, eventsDropped: one scripted hour of traffic (as the Python tests). */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{Episode, Event, EventType, Flag, HistoryRow, InvalidArgumentException, Level,
    Limiter, Metric, NotFoundException, Summary, TopRow, Window};

const RNOW = T0 + 2 * HOUR;
const RFROM = T0 - HOUR;
const RTO = T0 + 3 * HOUR;

function report_fixture(): Limiter
{
    $ml = fixture();
    $ml->domainAdd('other.example', 'other');
    $ml->mailboxAdd('news@acme.example');
    $ml->flagSet(Level::MAILBOX, 'news@acme.example', Flag::EXEMPT, 1);
    $ml->mailboxAdd('blocked@acme.example');
    $ml->limitSet(Level::MAILBOX, 'blocked@acme.example', Level::MAILBOX, Window::HOUR, 0);
    $ml->limitSet(Level::DOMAIN, 'acme.example', Level::MAILBOX, Window::HOUR, 3);
    foreach ([0, 60, 120, 180, 240] as $t) {
        $ml->decide(Level::MAILBOX, CEO, 1, T0 + $t);
    }
    $ml->decide(Level::MAILBOX, 'b@other.example', 1, T0 + 10);
    $ml->decide(Level::MAILBOX, 'b@other.example', 1, T0 + 70);
    $ml->decide(Level::MAILBOX, 'x@nowhere.example', 1, T0 + 20);
    $ml->decide(Level::MAILBOX, 'news@acme.example', 2, T0 + 30);
    $ml->decide(Level::MAILBOX, 'blocked@acme.example', 1, T0 + 300);
    ok($ml->decide(Level::MAILBOX, CEO, 1, T0 + HOUR + 60)->allowed());
    return $ml;
}

test('reports: history', function (): void {
    $ml = report_fixture();
    eq($ml->history(Level::MAILBOX, CEO, RFROM, RTO, RNOW),
        [new HistoryRow(T0, 3, 2, 0), new HistoryRow(T0 + HOUR, 1, 0, 0)]);
    eq($ml->history(Level::DOMAIN, 'acme.example', RFROM, RTO, RNOW),
        [new HistoryRow(T0, 3, 3, 2), new HistoryRow(T0 + HOUR, 1, 0, 0)]);
    eq($ml->history(Level::PLAN, 'basic', RFROM, RTO, RNOW),
        $ml->history(Level::SUBSCRIPTION, 'acme', RFROM, RTO, RNOW));
    eq($ml->history(Level::SERVER, null, RFROM, RTO, RNOW),
        [new HistoryRow(T0, 6, 3, 2), new HistoryRow(T0 + HOUR, 1, 0, 0)]);
    eq($ml->history(Level::SUBSCRIPTION, 'other', T0 + HOUR, RTO, RNOW), []);
    throws(NotFoundException::class, -3, fn() => $ml->historyOpen(Level::PLAN, 'nosuch', RFROM,
        RTO, RNOW));
    throws(InvalidArgumentException::class, -1, fn() => $ml->historyOpen(9, 'acme', RFROM, RTO,
        RNOW));
});

test('reports: the history iterator', function (): void {
    $ml = report_fixture();
    $it = $ml->historyOpen(Level::MAILBOX, CEO, RFROM, RTO, RNOW);
    $rows = [];
    foreach ($it as $k => $row) {
        $rows[$k] = $row;
    }
    eq(count($rows), 2);
    ok($it->isClosed(), 'closed when exhausted');
    $it2 = $ml->historyOpen(Level::MAILBOX, CEO, RFROM, RTO, RNOW);
    $it2->close();
    $it2->close();
    eq($it2->toArray(), []);
});

test('reports: episodes', function (): void {
    $ml = report_fixture();
    $ceo = new Episode(Level::MAILBOX, CEO, Window::HOUR, false, T0 + 180, T0 + HOUR, 3, 2);
    $blocked = new Episode(Level::MAILBOX, 'blocked@acme.example', Window::HOUR, true,
        T0 + 300, -1, 0, 1);
    eq($ml->episodes(Level::SERVER, null, RFROM, RTO, RNOW), [$ceo, $blocked]);
    eq($ml->episodes(Level::DOMAIN, 'acme.example', RFROM, RTO, RNOW), [$ceo, $blocked]);
    eq($ml->episodes(Level::MAILBOX, CEO, RFROM, RTO, RNOW), [$ceo]);
    eq($ml->episodes(Level::SUBSCRIPTION, 'other', RFROM, RTO, RNOW), []);
    eq($ml->episodes(Level::MAILBOX, CEO, T0 + HOUR + 1, RTO, RNOW), []);
    eq(iterator_to_array($ml->episodesOpen(Level::MAILBOX, 'blocked@acme.example', RFROM,
        RTO, RNOW)), [$blocked]);
    throws(NotFoundException::class, -3, fn() => $ml->episodesOpen(Level::DOMAIN,
        'nosuch.example', RFROM, RTO, RNOW));
});

test('reports: top', function (): void {
    $ml = report_fixture();
    $ceo = new TopRow(Level::MAILBOX, CEO, 4, 2, 0);
    $b = new TopRow(Level::MAILBOX, 'b@other.example', 2, 0, 0);
    $blocked = new TopRow(Level::MAILBOX, 'blocked@acme.example', 0, 1, 0);
    $news = new TopRow(Level::MAILBOX, 'news@acme.example', 0, 0, 2);
    eq($ml->top(Level::MAILBOX, Metric::SENT, T0, RNOW, 10, now: RNOW),
        [$ceo, $b, $blocked, $news]);
    eq($ml->top(Level::MAILBOX, Metric::DENIED, T0, RNOW, 2, now: RNOW), [$ceo, $blocked]);
    eq($ml->top(Level::MAILBOX, Metric::SENT, T0, RNOW, 10, Level::SUBSCRIPTION, 'other',
        RNOW), [$b]);
    eq($ml->top(Level::DOMAIN, Metric::SENT, T0, RNOW, 10, now: RNOW),
        [new TopRow(Level::DOMAIN, 'acme.example', 4, 3, 2),
         new TopRow(Level::DOMAIN, 'other.example', 2, 0, 0)]);
    eq($ml->top(Level::PLAN, Metric::SENT, T0, RNOW, 10, now: RNOW),
        [new TopRow(Level::PLAN, 'basic', 4, 3, 2)]);
    eq($ml->top(Level::MAILBOX, Metric::SENT, T0, RNOW, 0, now: RNOW), []);
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->top(Level::SERVER, Metric::SENT, T0, RNOW, 10));
    throws(InvalidArgumentException::class, -1, fn() => $ml->top(Level::MAILBOX, 7, T0, RNOW));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->top(Level::MAILBOX, Metric::SENT, T0, RNOW, -1));
    throws(NotFoundException::class, -3, fn() => $ml->top(Level::MAILBOX, Metric::SENT, T0,
        RNOW, 10, Level::SUBSCRIPTION, 'nosuch', RNOW));
});

test('reports: summary', function (): void {
    $ml = report_fixture();
    eq($ml->summary(Level::SERVER, null, T0, RNOW, RNOW), new Summary(6, 3, 2, 1, 2));
    eq($ml->summaryGet(Level::DOMAIN, 'acme.example', T0, RNOW, RNOW),
        new Summary(4, 3, 2, 0, 2));
    eq($ml->summary(Level::SUBSCRIPTION, 'other', T0, RNOW, RNOW), new Summary(2, 0, 0, 0, 0));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->summary(Level::MAILBOX, CEO, T0, RNOW, RNOW));
    throws(NotFoundException::class, -3,
        fn() => $ml->summary(Level::SUBSCRIPTION, 'nosuch', T0, RNOW, RNOW));
});

test('reports: events', function (): void {
    $ml = report_fixture();
    eq(iterator_to_array($ml->events(RNOW), false), [
        new Event(EventType::LIMIT_REACHED, Level::MAILBOX, CEO, Window::HOUR, T0 + 180, 3, 0, 1),
        new Event(EventType::LIMIT_REACHED, Level::MAILBOX, 'blocked@acme.example', Window::HOUR,
            T0 + 300, 0, 0, 2),
        new Event(EventType::BACK_TO_NORMAL, Level::MAILBOX, CEO, Window::HOUR, T0 + HOUR, 3, 2,
            3),
    ]);
    eq($ml->eventsNext(RNOW), null);
    eq($ml->eventsDropped(), 0);
});

test('reports: tick and retention', function (): void {
    $ml = report_fixture();
    eq($ml->retentionGet(), 744);
    $ml->retentionSet(48);
    eq($ml->retentionGet(), 48);
    throws(InvalidArgumentException::class, -1, fn() => $ml->retentionSet(0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->retentionSet(87601));
    $ml->tick(RNOW);
    throws(InvalidArgumentException::class, -1, fn() => $ml->tick(-1));
    $ml->tick(T0 + 60 * HOUR);
    eq($ml->history(Level::MAILBOX, CEO, RFROM, RTO, T0 + 60 * HOUR), []);
});

test('reports: closing the limiter closes its iterators', function (): void {
    $ml = new Limiter();
    $ml->subscriptionAdd('s');
    $ml->decide(Level::SUBSCRIPTION, 's', 1, T0);
    $it = $ml->historyOpen(Level::SUBSCRIPTION, 's', T0, T0 + HOUR, T0 + 1);
    $it2 = $ml->episodesOpen(Level::SERVER, null, T0, T0 + HOUR, T0 + 1);
    $ml->close();
    ok($it->isClosed() && $it2->isClosed(), 'iterators closed');
    eq($it->toArray(), []);
    throws(InvalidArgumentException::class, -1, fn() => $ml->eventsNext(T0));
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

<?php
// SPDX-License-Identifier: MIT

/**
 * One interface, two implementations: every test here runs against the in-process Limiter
 * and against a Client of a live maillimitd, with the same exact expectations.
 */

declare(strict_types=1);

use Maillimit\Client;
use Maillimit\Decision;
use Maillimit\Entity;
use Maillimit\EntityDetails;
use Maillimit\Episode;
use Maillimit\ErrorCode;
use Maillimit\Event;
use Maillimit\EventType;
use Maillimit\ExistsException;
use Maillimit\Flag;
use Maillimit\HistoryRow;
use Maillimit\InvalidArgumentException;
use Maillimit\Level;
use Maillimit\Limiter;
use Maillimit\MaillimitApi;
use Maillimit\Metric;
use Maillimit\NotFoundException;
use Maillimit\RangeException;
use Maillimit\Reason;
use Maillimit\Status;
use Maillimit\Summary;
use Maillimit\TopRow;
use Maillimit\Unit;
use Maillimit\Verdict;
use Maillimit\Window;

const CT = 1700000000 - 1700000000 % 3600; // 2023-11-14 22:00:00 UTC, the start of an hour

function build(MaillimitApi $ml): void
{
    $ml->planAdd('basic');
    $ml->subscriptionAdd('acme', 'basic');
    $ml->subscriptionAdd('beta');
    $ml->domainAdd('b.example', 'acme');
    $ml->domainAdd('a.example', 'acme');
    $ml->domainAdd('c.example', 'beta');
    foreach (['zed@a.example', 'ann@a.example', 'bob@b.example', 'cy@c.example'] as $m) {
        $ml->mailboxAdd($m);
    }
    $ml->sysuserAdd('acme_web', 'acme');
    $ml->limitSet(Level::PLAN, 'basic', Level::MAILBOX, Window::HOUR, 2);
}

/** Register $fn(MaillimitApi) twice: with a Limiter and with a Client of a fresh daemon. */
function contract(string $name, callable $fn): void
{
    test("limiter: $name", static function () use ($fn): void {
        $ml = new Limiter();
        try {
            $fn($ml);
        } finally {
            $ml->close();
        }
    });
    test("client: $name", static function () use ($fn): void {
        with_daemon(static function (Daemon $d) use ($fn): void {
            $ml = new Client($d->socket);
            try {
                $fn($ml);
            } finally {
                $ml->close();
            }
        });
    });
}

contract('hierarchy, listing and generation', static function (MaillimitApi $ml): void {
    $g0 = $ml->generation();
    build($ml);
    eq($ml->generation(), $g0 + 11);
    eq($ml->list(Level::MAILBOX), [
        new Entity(Level::MAILBOX, 'ann@a.example', 'a.example', false),
        new Entity(Level::MAILBOX, 'bob@b.example', 'b.example', false),
        new Entity(Level::MAILBOX, 'cy@c.example', 'c.example', false),
        new Entity(Level::MAILBOX, 'zed@a.example', 'a.example', false)]);
    eq(array_map(fn ($e) => $e->name, $ml->list(Level::MAILBOX, Level::SUBSCRIPTION, 'acme')),
        ['ann@a.example', 'bob@b.example', 'zed@a.example']);
    eq($ml->list(Level::DOMAIN, Level::PLAN, 'basic'), [
        new Entity(Level::DOMAIN, 'a.example', 'acme', false),
        new Entity(Level::DOMAIN, 'b.example', 'acme', false)]);
    eq($ml->list(Level::SUBSCRIPTION), [new Entity(Level::SUBSCRIPTION, 'acme', 'basic', false),
        new Entity(Level::SUBSCRIPTION, 'beta', '', false)]);
    eq($ml->list(Limiter::LIST_SYSUSER), [new Entity(Limiter::LIST_SYSUSER, 'acme_web', 'acme',
        false)]);
    $it = $ml->listOpen(Level::MAILBOX, Level::DOMAIN, 'a.example');
    eq(count($it), 2);
    $ml->domainMove('b.example', 'beta');
    $ml->subscriptionPlanSet('beta', 'basic');
    $ml->sysuserMove('acme_web', 'beta');
    eq(array_map(fn ($e) => $e->parent, $ml->list(Level::DOMAIN, Level::SUBSCRIPTION, 'beta')),
        ['beta', 'beta']);
    $ml->sysuserRemove('acme_web');
    $ml->remove(Level::MAILBOX, 'zed@a.example');
    eq($ml->list(Limiter::LIST_SYSUSER), []);
    eq(count($ml->list(Level::MAILBOX)), 3);
    eq($ml->generation(), $g0 + 16);
});

contract('a page with limits, flags and status', static function (MaillimitApi $ml): void {
    build($ml);
    $ml->limitSet(Level::MAILBOX, 'zed@a.example', Level::MAILBOX, Window::HOUR, 5);
    $ml->limitSet(Level::MAILBOX, 'zed@a.example', Level::MAILBOX, Window::DAY, Limiter::UNLIMITED);
    $ml->flagSet(Level::MAILBOX, 'bob@b.example', Flag::EXEMPT, true);
    for ($i = 0; $i < 2; $i++) {
        $ml->decide(Level::MAILBOX, 'ann@a.example', 1, CT + 40);
    }
    $page = $ml->listPage(Level::MAILBOX, Level::SUBSCRIPTION, 'acme', now: CT + 100);
    eq([$page->generation, $page->total, $page->offset], [$ml->generation(), 3, 0]);
    [$ann, $bob, $zed] = $page->entities;
    eq($ann, new EntityDetails(Level::MAILBOX, 'ann@a.example', 'a.example', false,
        ['mailbox/hour' => -2, 'mailbox/day' => -2], ['exempt' => -2],
        new Status(false, Level::MAILBOX, 2, 2, 0, 3500, 3500)));
    eq($bob->flags, ['exempt' => 1]);
    eq($bob->status, new Status(true, null, 0, 2, 2, 0, 0));
    eq($zed->limits, ['mailbox/hour' => 5, 'mailbox/day' => -1]);
    eq($zed->entity(), new Entity(Level::MAILBOX, 'zed@a.example', 'a.example', false));
    $page = $ml->listPage(Level::MAILBOX, offset: 1, count: 2, now: CT + 100);
    eq($page->total, 4);
    eq(array_map(fn ($e) => $e->name, $page->entities), ['bob@b.example', 'cy@c.example']);
    eq($ml->listPage(Level::MAILBOX, offset: 9, count: 2)->entities, []);
    $sub = $ml->listPage(Level::SUBSCRIPTION, count: 1, now: CT + 100)->entities[0];
    eq(array_keys($sub->limits), ['subscription/hour', 'subscription/day', 'domain/hour',
        'domain/day', 'mailbox/hour', 'mailbox/day']);
    eq($sub->flags, ['sendmail' => -2, 'exempt' => -2]);
    eq($sub->status->count, 2);
    $plan = $ml->listPage(Level::PLAN)->entities[0];
    eq([$plan->limits['mailbox/hour'], $plan->status], [2, null]);
    $su = $ml->listPage(Limiter::LIST_SYSUSER)->entities[0];
    eq([$su->level, $su->limits, $su->flags, $su->status], [Limiter::LIST_SYSUSER, [], [], null]);
});

contract('status of many', static function (MaillimitApi $ml): void {
    build($ml);
    for ($i = 0; $i < 3; $i++) {
        $ml->decide(Level::MAILBOX, 'ann@a.example', 1, CT + 40);
    }
    eq($ml->statusMany([[Level::MAILBOX, 'ann@a.example'], [Level::DOMAIN, 'a.example'],
        [Level::SERVER, null]], Window::HOUR, CT + 100), [
        new Status(false, Level::MAILBOX, 2, 2, 0, 3500, 3500),
        new Status(true, null, 2, -1, -1, 0, 3500),
        new Status(true, null, 2, -1, -1, 0, 3500)]);
    throws(NotFoundException::class, ErrorCode::ENOTFOUND->value,
        fn () => $ml->statusMany([[Level::MAILBOX, 'nosuch@a.example']], Window::HOUR, CT));
});

contract('decide, status, reset, limits', static function (MaillimitApi $ml): void {
    build($ml);
    eq($ml->limitConfigured(Level::MAILBOX, 'ann@a.example', Level::MAILBOX, Window::HOUR), -2);
    eq($ml->limitEffective(Level::MAILBOX, 'ann@a.example'), 2);
    eq($ml->limitEffective(Level::MAILBOX, 'ann@a.example', Window::DAY), -1);
    eq($ml->decide(Level::MAILBOX, 'ann@a.example', 1, CT + 40),
        new Verdict(Decision::ALLOW, Reason::NONE, null, null, 2, 0, 0, DECIDED));
    $ml->decide(Level::MAILBOX, 'ann@a.example', 1, CT + 40);
    eq($ml->decide(Level::MAILBOX, 'ann@a.example', 1, CT + 40),
        new Verdict(Decision::DENY, Reason::LIMIT, Level::MAILBOX, Window::HOUR, 2, 2, 3560, 0));
    eq($ml->status(Level::MAILBOX, 'ann@a.example', Window::HOUR, CT + 40),
        new Status(false, Level::MAILBOX, 2, 2, 0, 3560, 3560));
    $ml->reset(Level::MAILBOX, 'ann@a.example');
    ok($ml->statusGet(Level::MAILBOX, 'ann@a.example', Window::HOUR, CT + 40)->sending, 'sending');
    eq($ml->decide(Level::DOMAIN, 'nosuch.example', 1, CT)->reason, Reason::UNKNOWN);
});

contract('flags, switch, unit, retention', static function (MaillimitApi $ml): void {
    build($ml);
    $ml->flagSet(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL, false);
    eq([$ml->flagEffective(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL),
        $ml->flagConfigured(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL)], [false, 0]);
    eq($ml->decide(Level::SUBSCRIPTION, 'acme_web', 1, CT)->reason, Reason::NOT_ALLOWED);
    $ml->flagSet(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL, Limiter::DEFAULT);
    eq($ml->flagConfigured(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL), -2);
    $ml->enabledSet(false);
    eq($ml->enabledGet(), false);
    eq($ml->decide(Level::MAILBOX, 'ann@a.example', 1, CT)->reason, Reason::DISABLED);
    $ml->enabledSet();
    $ml->unitSet(Unit::RECIPIENTS);
    eq($ml->unitGet(), Unit::RECIPIENTS);
    $ml->retentionSet(48);
    eq($ml->retentionGet(), 48);
});

contract('reports', static function (MaillimitApi $ml): void {
    build($ml);
    $ml->limitSet(Level::DOMAIN, 'c.example', Level::DOMAIN, Window::HOUR, 2);
    for ($i = 0; $i < 3; $i++) {
        $ml->decide(Level::DOMAIN, 'c.example', 1, CT + 60);
    }
    $ml->decide(Level::MAILBOX, 'ann@a.example', 1, CT + 60);
    eq($ml->history(Level::DOMAIN, 'c.example', CT, CT + 3600, CT + 120),
        [new HistoryRow(CT, 2, 1, 0)]);
    eq(iterator_to_array($ml->historyOpen(Level::DOMAIN, 'c.example', CT, CT + 3600, CT + 120)),
        [new HistoryRow(CT, 2, 1, 0)]);
    eq($ml->episodes(Level::SERVER, null, CT, CT + 3600, CT + 120),
        [new Episode(Level::DOMAIN, 'c.example', Window::HOUR, true, CT + 60, CT + 3660, 2, 1)]);
    eq($ml->top(Level::DOMAIN, Metric::SENT, CT, CT + 3600, 5, now: CT + 120),
        [new TopRow(Level::DOMAIN, 'c.example', 2, 1, 0), new TopRow(Level::DOMAIN, 'a.example', 1, 0, 0)]);
    eq($ml->top(Level::MAILBOX, Metric::DENIED, CT, CT + 3600, 5, Level::SUBSCRIPTION, 'acme', CT + 120),
        [new TopRow(Level::MAILBOX, 'ann@a.example', 1, 0, 0)]);
    eq($ml->top(Level::MAILBOX, Metric::SENT, CT, CT + 3600, 0, now: CT + 120), []);
    eq($ml->summary(Level::SERVER, null, CT, CT + 3600, CT + 120), new Summary(3, 1, 0, 0, 1));
    eq($ml->summaryGet(Level::SUBSCRIPTION, 'beta', CT, CT + 3600, CT + 120),
        new Summary(2, 1, 0, 0, 1));
    eq(iterator_to_array($ml->events(), false), [
        new Event(EventType::LIMIT_REACHED, Level::DOMAIN, 'c.example', Window::HOUR, CT + 60, 2, 0, 1),
        new Event(EventType::BACK_TO_NORMAL, Level::DOMAIN, 'c.example', Window::HOUR, CT + 3660, 2, 1, 2)]);
    eq($ml->eventsNext(), null);
});

contract('errors are the same', static function (MaillimitApi $ml): void {
    build($ml);
    $nf = ErrorCode::ENOTFOUND->value;
    $inv = ErrorCode::EINVAL->value;
    throws(NotFoundException::class, $nf,
        fn () => $ml->limitSet(Level::MAILBOX, 'nosuch@x.example', Level::MAILBOX, Window::HOUR, 5));
    throws(NotFoundException::class, $nf, fn () => $ml->domainAdd('x.example', 'nosuch'));
    throws(NotFoundException::class, $nf, fn () => $ml->list(Level::MAILBOX, Level::DOMAIN, 'no.example'));
    throws(NotFoundException::class, $nf, fn () => $ml->remove(Level::DOMAIN, 'no.example'));
    throws(ExistsException::class, ErrorCode::EEXISTS->value, fn () => $ml->domainAdd('a.example', 'beta'));
    throws(InvalidArgumentException::class, $inv, fn () => $ml->status(9, 'x'));
    throws(InvalidArgumentException::class, $inv, fn () => $ml->status(Level::MAILBOX, 'x@a.example', 7));
    throws(InvalidArgumentException::class, $inv, fn () => $ml->mailboxAdd('nobody'));
    throws(InvalidArgumentException::class, $inv, fn () => $ml->mailboxAdd("a\0b@a.example"));
    throws(InvalidArgumentException::class, $inv,
        fn () => $ml->limitSet(Level::DOMAIN, 'a.example', Level::SUBSCRIPTION, Window::HOUR, 5));
    throws(InvalidArgumentException::class, $inv,
        fn () => $ml->limitSet(Level::DOMAIN, 'a.example', Level::DOMAIN, Window::HOUR, -3));
    throws(InvalidArgumentException::class, $inv,
        fn () => $ml->limitSet(Level::SERVER, null, Level::MAILBOX, Window::HOUR, -2));
    throws(InvalidArgumentException::class, $inv,
        fn () => $ml->flagSet(Level::DOMAIN, 'a.example', Flag::SENDMAIL, 0));
    throws(InvalidArgumentException::class, $inv, fn () => $ml->list(Level::SERVER));
    throws(RangeException::class, ErrorCode::ERANGE->value,
        fn () => $ml->decide(Level::MAILBOX, 'ann@a.example', 0, CT));
});

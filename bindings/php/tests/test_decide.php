<?php
// SPDX-License-Identifier: MIT

/** verdict_init, decide, decideMany, reserve, commit, release, reset, status_init, status/statusGet. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{Decision, Flag, InvalidArgumentException, Level, Limiter, NotFoundException,
    RangeException, Reason, Status, Verdict, Window};

function allow(int $limit, int $count, Reason $reason = Reason::NONE): Verdict
{
    return new Verdict(Decision::ALLOW, $reason, null, null, $limit, $count, 0, DECIDED);
}

function deny(Level $level, ?Window $window, int $limit, int $count, int $retry,
              Reason $reason = Reason::LIMIT): Verdict
{
    return new Verdict(Decision::DENY, $reason, $level, $window, $limit, $count, $retry, 0);
}

const M = Level::MAILBOX;
const H = Window::HOUR;

test('decide: mailbox limit, then the window slides', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 3);
    eq($ml->decide(M, CEO, 1, T0), allow(3, 0));
    eq($ml->decide(M, CEO, 1, T0 + 60), allow(3, 1));
    eq($ml->decide(M, CEO, 1, T0 + 120), allow(3, 2));
    $v = $ml->decide(M, CEO, 1, T0 + 180);
    eq($v, deny(M, H, 3, 3, HOUR - 180));
    ok($v->denied() && !$v->allowed(), 'denied()');
    eq($ml->decide(M, CEO, 1, T0 + HOUR - 1), deny(M, H, 3, 3, 1));
    eq($ml->decide(M, CEO, 1, T0 + HOUR), allow(3, 2));
    eq($ml->decide(M, CEO, 1, T0 + HOUR + 1), deny(M, H, 3, 3, 59));
});

test('decide: a parent at its limit blocks its children', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', Level::DOMAIN, H, 2);
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 10);
    $ml->mailboxAdd('b@acme.example');
    ok($ml->decide(M, CEO, 1, T0)->allowed());
    ok($ml->decide(M, 'b@acme.example', 1, T0 + 1)->allowed());
    eq($ml->decide(M, CEO, 1, T0 + 2), deny(Level::DOMAIN, H, 2, 2, HOUR - 2));
});

test('decide: ties go to the higher level, never is largest', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', Level::DOMAIN, H, 1);
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 1);
    $ml->decide(M, CEO, 1, T0);
    eq($ml->decide(M, CEO, 1, T0 + 10), deny(Level::DOMAIN, H, 1, 1, HOUR - 10));
    $ml->limitSet(M, CEO, M, H, 0);
    eq($ml->decide(M, CEO, 1, T0 + 20), deny(M, H, 0, 1, -1));
});

test('decide: daily window', function (): void {
    $ml = fixture();
    $ml->limitSet(M, CEO, M, Window::DAY, 2);
    ok($ml->decide(M, CEO, 1, T0)->allowed());
    ok($ml->decide(M, CEO, 1, T0 + HOUR)->allowed());
    eq($ml->decide(M, CEO, 1, T0 + 2 * HOUR), deny(M, Window::DAY, 2, 2, DAY - 2 * HOUR));
    eq($ml->decide(M, CEO, 1, T0 + DAY), allow(Limiter::UNLIMITED, 0));
});

test('decide: cost, and a request that can never fit', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 10);
    eq($ml->decide(M, CEO, 4, T0), allow(10, 0));
    eq($ml->decide(M, CEO, 11, T0 + 1), deny(M, H, 10, 4, -1));
    eq($ml->decide(M, CEO, 7, T0 + 2), deny(M, H, 10, 4, HOUR - 2));
    eq($ml->decide(M, CEO, 6, T0 + 3), allow(10, 4));
    throws(RangeException::class, -5, fn() => $ml->decide(M, CEO, 0, T0));
    throws(RangeException::class, -5, fn() => $ml->decide(M, CEO, Limiter::COST_MAX + 1, T0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->decide(M, CEO, 1, -1));
    throws(InvalidArgumentException::class, -1, fn() => $ml->decide(Level::PLAN, 'basic', 1, T0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->decide(M, 'not an address', 1, T0));
});

test('decide: script and system-user mail', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::SUBSCRIPTION, 'acme', Level::SUBSCRIPTION, H, 2);
    eq($ml->decide(Level::DOMAIN, 'acme.example', 1, T0), allow(Limiter::UNLIMITED, 0));
    eq($ml->decide(Level::SUBSCRIPTION, 'acme_web', 1, T0 + 1), allow(2, 1));
    eq($ml->decide(Level::SUBSCRIPTION, 'ACME', 1, T0 + 2),
        deny(Level::SUBSCRIPTION, H, 2, 2, HOUR - 2));
    eq($ml->status(Level::DOMAIN, 'acme.example', H, T0 + 3)->count, 1);
    eq($ml->status(Level::SUBSCRIPTION, 'acme', H, T0 + 3)->count, 2);
    eq($ml->status(Level::SERVER, null, H, T0 + 3)->count, 2);
});

test('decide: reasons in order', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 1);
    $ml->limitSet(Level::SERVER, null, Level::SERVER, H, 4);
    eq($ml->decide(M, 'x@unknown.example', 1, T0), allow(4, 0, Reason::UNKNOWN));
    $ml->mailboxAdd('news@acme.example');
    $ml->flagSet(M, 'news@acme.example', Flag::EXEMPT, 1);
    for ($i = 0; $i < 3; $i++) {
        eq($ml->decide(M, 'news@acme.example', 1, T0 + 1)->reason, Reason::EXEMPT);
    }
    eq($ml->status(Level::DOMAIN, 'acme.example', H, T0 + 1)->count, 0);
    $ml->flagSet(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL, 0);
    eq($ml->decide(Level::SUBSCRIPTION, 'acme_web', 1, T0 + 2),
        new Verdict(Decision::DENY, Reason::NOT_ALLOWED, Level::SUBSCRIPTION, null,
            Limiter::UNLIMITED, 0, -1, 0));
    eq($ml->decide(M, CEO, 1, T0 + 3), allow(1, 0));
    $ml->enabledSet(false);
    eq($ml->decide(M, CEO, 1, T0 + 4), allow(1, 1, Reason::DISABLED));
    eq($ml->status(M, CEO, H, T0 + 5)->count, 2);
    $ml->enabledSet(true);
    eq($ml->status(Level::SERVER, null, H, T0 + 5)->count, 3);
    eq($ml->decide(M, 'x@unknown.example', 1, T0 + 6), allow(4, 3, Reason::UNKNOWN));
    eq($ml->decide(M, 'x@unknown.example', 1, T0 + 7), deny(Level::SERVER, H, 4, 4, HOUR - 7));
});

test('decide: an implicit mailbox exists from its first decision', function (): void {
    $ml = fixture();
    throws(NotFoundException::class, -3, fn() => $ml->status(M, 'new@acme.example', H, T0));
    eq($ml->decide(M, 'NEW@acme.example', 1, T0), allow(Limiter::UNLIMITED, 0));
    eq($ml->status(M, 'new@acme.example', H, T0 + 1)->count, 1);
});

test('decideMany: a batch decides as single calls', function (): void {
    $ml = fixture();
    $twin = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 3);
    $twin->limitSet(Level::DOMAIN, 'acme.example', M, H, 3);
    $reqs = [[M, CEO], [M, 'new@acme.example', 2], [M, CEO], [Level::DOMAIN, 'acme.example'],
             [M, CEO], [M, CEO], [Level::SUBSCRIPTION, 'acme_web'], [M, 'x@nowhere.example'],
             [M, 'NEW@acme.example'], [M, 'new@acme.example']];
    $got = $ml->decideMany($reqs, T0);
    $want = array_map(fn(array $r): Verdict => $twin->decide($r[0], $r[1], $r[2] ?? 1, T0),
        $reqs);
    eq($got, $want);
    eq($got[0], allow(3, 0));
    eq($got[5], deny(M, H, 3, 3, HOUR));
    eq($got[8], allow(3, 2));
    eq($got[9], deny(M, H, 3, 3, HOUR));
    eq($ml->status(M, 'new@acme.example', H, T0)->count, 3);
    eq($ml->decideMany([], T0), []);
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 40);
    $many = $ml->decideMany(array_fill(0, 50, [M, 'many@acme.example']), T0);
    eq(array_map(fn(Verdict $v): bool => $v->allowed(), $many),
        array_merge(array_fill(0, 40, true), array_fill(0, 10, false)));
});

test('decideMany: a bad request stops the batch', function (): void {
    $ml = fixture();
    $decided = null;
    throws(InvalidArgumentException::class, -1,
        function () use ($ml, &$decided): void {
            $ml->decideMany([[M, CEO], [M, CEO], [M, 'no-at-sign'], [M, CEO]], T0, $decided);
        });
    eq($decided, [allow(Limiter::UNLIMITED, 0), allow(Limiter::UNLIMITED, 1)]);
    eq($ml->status(M, CEO, H, T0)->count, 2);
    throws(RangeException::class, -5, function () use ($ml, &$decided): void {
        $ml->decideMany([[M, CEO, 1], [M, CEO, 0]], T0, $decided);
    });
    eq(count($decided), 1);
    eq($ml->status(M, CEO, H, T0)->count, 3);
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->decideMany([[Level::PLAN, 'basic']], T0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->decideMany([[M, CEO]], -1));
    // refused by the binding: nothing decided
    throws(InvalidArgumentException::class, -1, fn() => $ml->decideMany([[M, CEO], 'x'], T0));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->decideMany([[M, CEO], [M, "a\0b@acme.example"]], T0));
    eq($ml->status(M, CEO, H, T0)->count, 3);
});

test('two-phase: reserve, commit, release', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 2);
    $a = $ml->reserve(M, CEO, 1, T0);
    $b = $ml->reserve(M, CEO, 1, T0 + 1);
    ok($a->allowed() && $b->allowed(), 'both reserved');
    ok(!in_array($a->token, [0, DECIDED], true), 'a reservation token');
    ok($a->token !== $b->token, 'distinct tokens');
    eq([$a->count, $b->count], [0, 1]);
    eq($ml->reserve(M, CEO, 1, T0 + 2), deny(M, H, 2, 2, HOUR - 2));
    $ml->commit($a->token);
    $ml->release($b->token);
    eq($ml->status(M, CEO, H, T0 + 3)->count, 1);
    throws(NotFoundException::class, -3, fn() => $ml->commit($a->token));
    throws(NotFoundException::class, -3, fn() => $ml->release($a->token));
    throws(NotFoundException::class, -3, fn() => $ml->release($b->token));
    throws(NotFoundException::class, -3, fn() => $ml->commit($b->token));
    throws(NotFoundException::class, -3, fn() => $ml->commit(DECIDED));
    throws(NotFoundException::class, -3, fn() => $ml->release(123456789));
    throws(InvalidArgumentException::class, -1, fn() => $ml->commit(0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->release(0));
    eq($ml->status(M, CEO, H, T0 + 4)->count, 1);
});

test('two-phase: reserve of an exempt sender gives a final token', function (): void {
    $ml = fixture();
    $ml->flagSet(M, CEO, Flag::EXEMPT, 1);
    $v = $ml->reserve(M, CEO, 1, T0);
    eq($v, allow(Limiter::UNLIMITED, 0, Reason::EXEMPT));
    throws(NotFoundException::class, -3, fn() => $ml->commit($v->token));
    throws(NotFoundException::class, -3, fn() => $ml->release($v->token));
});

test('two-phase: release gives back only to slots still in their window', function (): void {
    $ml = fixture();
    $r = $ml->reserve(M, CEO, 5, T0);
    $ml->decide(M, CEO, 1, T0 + HOUR);
    $ml->release($r->token);
    eq($ml->status(M, CEO, H, T0 + HOUR)->count, 1);
    eq($ml->status(M, CEO, Window::DAY, T0 + HOUR)->count, 1);
});

test('status: exact figures', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 3);
    $ml->decide(M, CEO, 1, T0);
    $ml->decide(M, CEO, 1, T0 + 60);
    eq($ml->status(M, CEO, H, T0 + 120), new Status(true, null, 2, 3, 1, 0, HOUR + 60 - 120));
    eq($ml->statusGet(M, CEO, Window::DAY, T0 + 120),
        new Status(true, null, 2, Limiter::UNLIMITED, Limiter::UNLIMITED, 0, DAY - 120));
    $ml->decide(M, CEO, 1, T0 + 120);
    eq($ml->status(M, CEO, H, T0 + 180),
        new Status(false, M, 3, 3, 0, HOUR - 180, HOUR + 120 - 180));
    eq($ml->status(Level::DOMAIN, 'acme.example', H, T0 + 180),
        new Status(true, null, 3, Limiter::UNLIMITED, Limiter::UNLIMITED, 0, HOUR - 60));
    eq($ml->status(M, CEO, H, T0 + 2 * HOUR), new Status(true, null, 0, 3, 3, 0, 0));
});

test('status: a blocked parent shows in the child', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::SUBSCRIPTION, 'acme', Level::SUBSCRIPTION, H, 1);
    $ml->decide(Level::SUBSCRIPTION, 'acme', 1, T0);
    eq($ml->status(M, CEO, H, T0 + 10), new Status(false, Level::SUBSCRIPTION, 0,
        Limiter::UNLIMITED, Limiter::UNLIMITED, HOUR - 10, 0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->status(Level::PLAN, 'basic', H, T0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->status(M, CEO, 2, T0));
    throws(InvalidArgumentException::class, -1, fn() => $ml->status(M, CEO, H, -5));
    throws(NotFoundException::class, -3, fn() => $ml->status(Level::DOMAIN, 'nosuch.example'));
});

test('reset clears only the entity', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', M, H, 2);
    $ml->decide(M, CEO, 2, T0);
    ok($ml->decide(M, CEO, 1, T0 + 1)->denied());
    $ml->reset(M, 'CEO@acme.example');
    eq($ml->status(M, CEO, H, T0 + 2)->count, 0);
    eq($ml->status(M, CEO, Window::DAY, T0 + 2)->count, 0);
    eq($ml->status(Level::DOMAIN, 'acme.example', H, T0 + 2)->count, 2);
    eq($ml->decide(M, CEO, 1, T0 + 3), allow(2, 0));
    $ml->reset(Level::SERVER, null);
    eq($ml->status(Level::SERVER, null, H, T0 + 4)->count, 0);
    eq($ml->status(Level::SUBSCRIPTION, 'acme', H, T0 + 4)->count, 3);
    throws(InvalidArgumentException::class, -1, fn() => $ml->reset(Level::PLAN, 'basic'));
    throws(NotFoundException::class, -3, fn() => $ml->reset(Level::DOMAIN, 'nosuch.example'));
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

<?php
// SPDX-License-Identifier: MIT

/** listOpen/list (maillimit_list_open, _next, _count, _close, maillimit_entity_init) and
 * generation (maillimit_generation): every listing hand-computed from list_fixture(), as in
 * the Python tests. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{Entity, EntityIterator, ErrorCode, InvalidArgumentException, Level, Limiter,
    NotFoundException, Window};

const SU = Limiter::LIST_SYSUSER;

/** The shared fixture (plan basic > acme > acme.example > ceo@acme.example, acme_web; other
 * without a plan) plus plan pro > beta > beta.example > c@beta.example and beta_web;
 * shop.example > s@shop.example and a@acme.example in acme; ACME_cron in acme. Added out of
 * order and partly in upper case: listings are sorted and lower case. */
function list_fixture(): Limiter
{
    $ml = fixture();
    $ml->planAdd('PRO');
    $ml->subscriptionAdd('beta', 'pro');
    $ml->domainAdd('shop.example', 'acme');
    $ml->domainAdd('beta.example', 'beta');
    $ml->mailboxAdd('s@shop.example');
    $ml->mailboxAdd('c@beta.example');
    $ml->mailboxAdd('A@acme.example');
    $ml->sysuserAdd('beta_web', 'beta');
    $ml->sysuserAdd('ACME_cron', 'acme');
    return $ml;
}

function ent(Level|int $level, string $name, string $parent, bool $implicit = false): Entity
{
    return new Entity($level, $name, $parent, $implicit);
}

test('list: every level, sorted, with parents', function (): void {
    $ml = list_fixture();
    eq($ml->list(Level::PLAN), [ent(Level::PLAN, 'basic', ''), ent(Level::PLAN, 'pro', '')]);
    eq($ml->list(Level::SUBSCRIPTION), [ent(Level::SUBSCRIPTION, 'acme', 'basic'),
        ent(Level::SUBSCRIPTION, 'beta', 'pro'), ent(Level::SUBSCRIPTION, 'other', '')]);
    eq($ml->list(Level::DOMAIN), [ent(Level::DOMAIN, 'acme.example', 'acme'),
        ent(Level::DOMAIN, 'beta.example', 'beta'), ent(Level::DOMAIN, 'shop.example', 'acme')]);
    eq($ml->list(Level::MAILBOX), [ent(Level::MAILBOX, 'a@acme.example', 'acme.example'),
        ent(Level::MAILBOX, 'c@beta.example', 'beta.example'),
        ent(Level::MAILBOX, 'ceo@acme.example', 'acme.example'),
        ent(Level::MAILBOX, 's@shop.example', 'shop.example')]);
    eq($ml->list(SU), [ent(SU, 'acme_cron', 'acme'), ent(SU, 'acme_web', 'acme'),
        ent(SU, 'beta_web', 'beta')]);
    eq($ml->list(4), $ml->list(Level::MAILBOX), 'an int level');
});

test('list: levels are enums, system users the int constant', function (): void {
    $ml = list_fixture();
    ok($ml->list(Level::DOMAIN)[0]->level === Level::DOMAIN, 'a Level');
    $su = $ml->list(SU)[0];
    ok($su->level === 5, 'system user level is the int 5');
    eq([Limiter::LIST_SYSUSER, Limiter::ENTITY_VERSION], [5, 1]);
    ok($ml->list(Level::PLAN)[0]->implicit === false, 'configured');
});

test('list: scoped by subscription, domain and plan', function (): void {
    $ml = list_fixture();
    eq($ml->list(Level::DOMAIN, Level::SUBSCRIPTION, 'ACME'),
        [ent(Level::DOMAIN, 'acme.example', 'acme'), ent(Level::DOMAIN, 'shop.example', 'acme')]);
    eq($ml->list(Level::MAILBOX, Level::DOMAIN, 'acme.example'),
        [ent(Level::MAILBOX, 'a@acme.example', 'acme.example'),
         ent(Level::MAILBOX, 'ceo@acme.example', 'acme.example')]);
    eq($ml->list(Level::MAILBOX, Level::SUBSCRIPTION, 'beta'),
        [ent(Level::MAILBOX, 'c@beta.example', 'beta.example')]);
    eq($ml->list(Level::MAILBOX, Level::PLAN, 'basic'),
        [ent(Level::MAILBOX, 'a@acme.example', 'acme.example'),
         ent(Level::MAILBOX, 'ceo@acme.example', 'acme.example'),
         ent(Level::MAILBOX, 's@shop.example', 'shop.example')]);
    eq($ml->list(Level::SUBSCRIPTION, Level::PLAN, 'pro'),
        [ent(Level::SUBSCRIPTION, 'beta', 'pro')]);
    eq($ml->list(SU, Level::SUBSCRIPTION, 'acme'),
        [ent(SU, 'acme_cron', 'acme'), ent(SU, 'acme_web', 'acme')]);
    eq($ml->list(SU, Level::PLAN, 'pro'), [ent(SU, 'beta_web', 'beta')]);
    eq($ml->list(Level::DOMAIN, Level::SUBSCRIPTION, 'other'), []);
    eq($ml->list(SU, Level::SUBSCRIPTION, 'other'), []);
    eq($ml->list(Level::SUBSCRIPTION, Level::DOMAIN, 'beta.example'), [],
        'a domain holds no subscription');
    eq($ml->list(Level::PLAN, Level::SERVER, null), $ml->list(Level::PLAN));
    eq($ml->list(Level::MAILBOX, scopeLevel: Level::DOMAIN, scopeName: 'shop.example'),
        [ent(Level::MAILBOX, 's@shop.example', 'shop.example')]);
});

test('list: implicit mailboxes only when asked', function (): void {
    $ml = list_fixture();
    ok($ml->decide(Level::MAILBOX, 'New@beta.example', 1, T0)->allowed(), 'allowed');
    eq($ml->list(Level::MAILBOX, Level::DOMAIN, 'beta.example'),
        [ent(Level::MAILBOX, 'c@beta.example', 'beta.example')]);
    eq($ml->list(Level::MAILBOX, Level::DOMAIN, 'beta.example', true),
        [ent(Level::MAILBOX, 'c@beta.example', 'beta.example'),
         ent(Level::MAILBOX, 'new@beta.example', 'beta.example', true)]);
    eq(count($ml->list(Level::MAILBOX)), 4);
    eq(count($ml->list(Level::MAILBOX, implicit: true)), 5);
    $ml->mailboxAdd('new@beta.example'); // configuring it makes it explicit
    eq($ml->list(Level::MAILBOX, Level::DOMAIN, 'beta.example'),
        [ent(Level::MAILBOX, 'c@beta.example', 'beta.example'),
         ent(Level::MAILBOX, 'new@beta.example', 'beta.example')]);
});

test('list: removed and moved entities', function (): void {
    $ml = list_fixture();
    $ml->remove(Level::DOMAIN, 'acme.example');
    $ml->domainMove('beta.example', 'acme');
    $ml->sysuserMove('beta_web', 'other');
    $ml->remove(Level::PLAN, 'basic');
    eq($ml->list(Level::SUBSCRIPTION), [ent(Level::SUBSCRIPTION, 'acme', ''),
        ent(Level::SUBSCRIPTION, 'beta', 'pro'), ent(Level::SUBSCRIPTION, 'other', '')]);
    eq($ml->list(Level::DOMAIN), [ent(Level::DOMAIN, 'beta.example', 'acme'),
        ent(Level::DOMAIN, 'shop.example', 'acme')]);
    eq($ml->list(Level::MAILBOX), [ent(Level::MAILBOX, 'c@beta.example', 'beta.example'),
        ent(Level::MAILBOX, 's@shop.example', 'shop.example')]);
    eq($ml->list(SU, Level::SUBSCRIPTION, 'other'), [ent(SU, 'beta_web', 'other')]);
    eq($ml->list(Level::MAILBOX, Level::PLAN, 'pro'), []);
});

test('list: non-ASCII names sort bytewise', function (): void {
    $ml = list_fixture();
    $ml->domainAdd("b\xc3\xbccher.example", 'other');
    eq($ml->list(Level::DOMAIN, Level::SUBSCRIPTION, 'other'),
        [ent(Level::DOMAIN, "b\xc3\xbccher.example", 'other')]);
    eq(array_map(fn(Entity $e): string => $e->name, $ml->list(Level::DOMAIN)),
        ['acme.example', 'beta.example', "b\xc3\xbccher.example", 'shop.example']);
});

test('list: the iterator counts, iterates once and closes', function (): void {
    $ml = list_fixture();
    $it = $ml->listOpen(Level::DOMAIN);
    ok($it instanceof EntityIterator && $it instanceof \Countable, 'a Countable EntityIterator');
    eq(count($it), 3);
    $rows = [];
    foreach ($it as $k => $e) {
        $rows[$k] = $e;
        break;
    }
    eq($rows, [0 => ent(Level::DOMAIN, 'acme.example', 'acme')]);
    eq($it->count(), 3, 'those already read included');
    ok(!$it->isClosed(), 'open');
    $it->close();
    $it->close(); // idempotent
    ok($it->isClosed(), 'closed');
    eq($it->toArray(), []);
    eq(count($it), 3, 'count after close');
    $it2 = $ml->listOpen(SU, Level::SUBSCRIPTION, 'beta');
    eq(count($it2), 1);
    $all = [];
    foreach ($it2 as $e) {
        $all[] = $e;
    }
    eq($all, [ent(SU, 'beta_web', 'beta')]);
    ok($it2->isClosed(), 'closed when exhausted');
    $empty = $ml->listOpen(SU, Level::SUBSCRIPTION, 'other');
    eq([count($empty), $empty->toArray(), $empty->isClosed()], [0, [], true]);
});

test('list: the iterator is a copy', function (): void {
    $ml = list_fixture();
    $it = $ml->listOpen(Level::DOMAIN);
    $ml->remove(Level::SUBSCRIPTION, 'acme');
    $ml->domainAdd('new.example', 'other');
    eq($it->toArray(), [ent(Level::DOMAIN, 'acme.example', 'acme'),
        ent(Level::DOMAIN, 'beta.example', 'beta'), ent(Level::DOMAIN, 'shop.example', 'acme')]);
    ok($it->isClosed(), 'closed by toArray()');
    eq($ml->list(Level::DOMAIN), [ent(Level::DOMAIN, 'beta.example', 'beta'),
        ent(Level::DOMAIN, 'new.example', 'other')]);
});

test('list: closing the limiter closes its iterators', function (): void {
    $ml = new Limiter();
    $ml->planAdd('p');
    $it = $ml->listOpen(Level::PLAN);
    $ml->close();
    ok($it->isClosed(), 'closed with its limiter');
    eq([$it->toArray(), count($it)], [[], 1]);
});

test('list: bad levels are InvalidArgumentException', function (): void {
    $ml = list_fixture();
    foreach ([Level::SERVER, 6, -1] as $level) {
        $e = throws(InvalidArgumentException::class, -1, fn() => $ml->list($level));
        eq($e->getFunction(), 'maillimit_list_open');
        eq($e->getErrorCode(), ErrorCode::EINVAL);
        ok($e instanceof \InvalidArgumentException, 'an SPL InvalidArgumentException');
    }
    $e = throws(InvalidArgumentException::class, -1, fn() => $ml->list(1 << 40));
    eq($e->getFunction(), null, 'refused by the binding');
    $e = throws(InvalidArgumentException::class, -1,
        fn() => $ml->listOpen(SU, Level::SUBSCRIPTION, 'a b'));
    eq($e->getMessage(),
        "maillimit_list_open(LIST_SYSUSER, SUBSCRIPTION, 'a b', false): invalid argument");
});

test('list: bad scopes are InvalidArgumentException', function (): void {
    $ml = list_fixture();
    $bad = [[Level::SERVER, 'acme'],               // a name with the server scope
            [Level::SUBSCRIPTION, null],           // a subtree without its name
            [Level::MAILBOX, 'ceo@acme.example'],  // not a scope level
            [9, 'acme'],                           // no level at all
            [Level::SUBSCRIPTION, 'bad name']];    // not a valid name
    foreach ($bad as [$scopeLevel, $scopeName]) {
        throws(InvalidArgumentException::class, -1,
            fn() => $ml->list(Level::DOMAIN, $scopeLevel, $scopeName));
    }
    $e = throws(InvalidArgumentException::class, -1,
        fn() => $ml->list(Level::DOMAIN, Level::SUBSCRIPTION, "acme\0x"));
    ok(str_contains($e->getMessage(), 'contains a NUL byte'), $e->getMessage());
});

test('list: an unknown scope is NotFoundException', function (): void {
    $ml = list_fixture();
    $e = throws(NotFoundException::class, -3,
        fn() => $ml->list(Level::DOMAIN, Level::SUBSCRIPTION, 'nosuch'));
    eq($e->getMessage(), "maillimit_list_open(DOMAIN, SUBSCRIPTION, 'nosuch', false): not found");
    ok($e instanceof \OutOfBoundsException, 'an SPL OutOfBoundsException');
    throws(NotFoundException::class, -3,
        fn() => $ml->listOpen(Level::MAILBOX, Level::DOMAIN, 'nosuch.example'));
    throws(NotFoundException::class, -3,
        fn() => $ml->list(Level::SUBSCRIPTION, Level::PLAN, 'gold'));
    $ml->remove(Level::DOMAIN, 'shop.example'); // a removed entity is no scope
    throws(NotFoundException::class, -3,
        fn() => $ml->list(Level::MAILBOX, Level::DOMAIN, 'shop.example'));
});

test('list: a closed limiter refuses', function (): void {
    $ml = new Limiter();
    $ml->close();
    foreach ([fn() => $ml->list(Level::PLAN), fn() => $ml->listOpen(Level::PLAN),
              fn() => $ml->generation()] as $call) {
        $e = throws(InvalidArgumentException::class, -1, $call);
        eq($e->getDetail(), 'the limiter is closed');
    }
});

test('generation: grows with the hierarchy, not with limits', function (): void {
    $ml = list_fixture();
    $g0 = $ml->generation();
    eq($ml->generation(), $g0, 'reading changes nothing');
    $ml->domainAdd('new.example', 'other');
    $g1 = $ml->generation();
    ok($g1 > $g0, 'a domain added');
    $ml->limitSet(Level::DOMAIN, 'new.example', Level::MAILBOX, Window::HOUR, 5);
    $ml->limitSet(Level::SERVER, null, Level::MAILBOX, Window::DAY, 100);
    eq($ml->generation(), $g1, 'limits changed');
    $ml->domainAdd('NEW.example', 'other'); // the same placement: a no-op
    eq($ml->generation(), $g1, 'a no-op add');
    $ml->decide(Level::MAILBOX, 'x@new.example', 1, T0); // an implicit mailbox
    eq($ml->generation(), $g1, 'an implicit mailbox');
    $ml->mailboxAdd('x@new.example'); // now configured
    $g2 = $ml->generation();
    ok($g2 > $g1, 'the implicit mailbox configured');
    $ml->subscriptionPlanSet('other', 'pro');
    $g3 = $ml->generation();
    ok($g3 > $g2, 'a plan changed');
    $ml->sysuserRemove('acme_web');
    $g4 = $ml->generation();
    ok($g4 > $g3, 'a system user removed');
    $ml->snapshotLoadMem($ml->snapshotSaveMem());
    ok($ml->generation() > $g4, 'a snapshot loaded');
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

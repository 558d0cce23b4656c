<?php
// SPDX-License-Identifier: MIT

/** planAdd, subscriptionAdd, domainAdd, mailboxAdd, sysuserAdd, remove, sysuserRemove,
 * domainMove, subscriptionPlanSet. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{ExistsException, InvalidArgumentException, Level, Limiter, NotFoundException,
    Window};

test('hierarchy: re-adding with the same placement is a no-op', function (): void {
    $ml = fixture();
    $ml->planAdd('BASIC');
    $ml->subscriptionAdd('Acme', 'Basic');
    $ml->domainAdd('ACME.example', 'acme');
    $ml->mailboxAdd('CEO@Acme.Example');
    $ml->sysuserAdd('ACME_WEB', 'ACME');
    eq($ml->limitEffective(Level::MAILBOX, 'ceo@acme.example'), Limiter::UNLIMITED);
});

test('hierarchy: another placement is ExistsException', function (): void {
    $ml = fixture();
    $e = throws(ExistsException::class, -4, fn() => $ml->subscriptionAdd('acme', null));
    eq($e->getMessage(), "maillimit_subscription_add('acme', null): already exists elsewhere");
    eq($e->getFunction(), 'maillimit_subscription_add');
    eq($e->getLibraryMessage(), 'already exists elsewhere');
    eq($e->getErrorCode(), Maillimit\ErrorCode::EEXISTS);
    throws(ExistsException::class, -4, fn() => $ml->domainAdd('acme.example', 'other'));
    throws(ExistsException::class, -4, fn() => $ml->sysuserAdd('acme_web', 'other'));
});

test('hierarchy: a missing parent is NotFoundException', function (): void {
    $ml = fixture();
    throws(NotFoundException::class, -3, fn() => $ml->subscriptionAdd('s2', 'nosuch'));
    throws(NotFoundException::class, -3, fn() => $ml->domainAdd('x.example', 'nosuch'));
    throws(NotFoundException::class, -3, fn() => $ml->mailboxAdd('a@unknown.example'));
    $e = throws(NotFoundException::class, -3, fn() => $ml->sysuserAdd('u', 'nosuch'));
    ok($e instanceof \OutOfBoundsException, 'NotFoundException is an OutOfBoundsException');
});

test('hierarchy: bad names are InvalidArgumentException', function (): void {
    $ml = fixture();
    foreach (['', 'a b', "tab\there", "ctl\x01", str_repeat('x', 321)] as $bad) {
        $e = throws(InvalidArgumentException::class, -1, fn() => $ml->planAdd($bad));
        ok($e instanceof \InvalidArgumentException, 'an SPL InvalidArgumentException');
    }
    $ml->planAdd(str_repeat('x', 320));
    throws(InvalidArgumentException::class, -1, fn() => $ml->mailboxAdd('no-at-sign.example'));
    throws(InvalidArgumentException::class, -1, fn() => $ml->mailboxAdd('a@b@acme.example'));
});

test('hierarchy: a NUL in a name is refused by the binding', function (): void {
    $ml = fixture();
    $e = throws(InvalidArgumentException::class, -1,
        fn() => $ml->mailboxAdd("ceo@acme.example\0x"));
    ok(str_contains($e->getMessage(), 'contains a NUL byte'), 'message names the NUL');
});

test('hierarchy: non-ASCII bytes are compared as they are', function (): void {
    $ml = fixture();
    $ml->domainAdd("b\xc3\xbccher.example", 'acme');
    $ml->mailboxAdd("j\xc3\xbcrgen@b\xc3\xbccher.example");
    $ml->limitSet(Level::MAILBOX, "j\xc3\xbcrgen@B\xc3\xbcCHER.example", Level::MAILBOX,
        Window::HOUR, 7);
    eq($ml->limitEffective(Level::MAILBOX, "j\xc3\xbcrgen@b\xc3\xbccher.example"), 7);
    throws(NotFoundException::class, -3,
        fn() => $ml->limitEffective(Level::MAILBOX, "j\xc3\xbcrgen@b\xc3\x9ccher.example"));
});

test('hierarchy: remove takes the subtree', function (): void {
    $ml = fixture();
    $ml->remove(Level::SUBSCRIPTION, 'acme');
    throws(NotFoundException::class, -3,
        fn() => $ml->limitEffective(Level::DOMAIN, 'acme.example'));
    throws(NotFoundException::class, -3,
        fn() => $ml->limitEffective(Level::MAILBOX, 'ceo@acme.example'));
    throws(NotFoundException::class, -3, fn() => $ml->sysuserRemove('acme_web'));
    throws(NotFoundException::class, -3, fn() => $ml->remove(Level::SUBSCRIPTION, 'acme'));
});

test('hierarchy: remove a mailbox and a domain; the server cannot be removed', function (): void {
    $ml = fixture();
    $ml->remove(Level::MAILBOX, 'CEO@acme.example');
    throws(NotFoundException::class, -3,
        fn() => $ml->limitEffective(Level::MAILBOX, 'ceo@acme.example'));
    $ml->remove(Level::DOMAIN, 'acme.example');
    throws(NotFoundException::class, -3,
        fn() => $ml->limitEffective(Level::DOMAIN, 'acme.example'));
    throws(InvalidArgumentException::class, -1, fn() => $ml->remove(Level::SERVER, 'x'));
    throws(InvalidArgumentException::class, -1, fn() => $ml->remove(9, 'acme'));
    throws(InvalidArgumentException::class, -1, fn() => $ml->remove(1 << 40, 'acme'));
});

test('hierarchy: removing a plan detaches its subscriptions', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::PLAN, 'basic', Level::SUBSCRIPTION, Window::HOUR, 50);
    eq($ml->limitEffective(Level::SUBSCRIPTION, 'acme'), 50);
    $ml->remove(Level::PLAN, 'basic');
    eq($ml->limitEffective(Level::SUBSCRIPTION, 'acme'), Limiter::UNLIMITED);
    $ml->planAdd('basic');
    eq($ml->limitConfigured(Level::PLAN, 'basic', Level::SUBSCRIPTION, Window::HOUR),
        Limiter::DEFAULT);
});

test('hierarchy: sysuserRemove', function (): void {
    $ml = fixture();
    $ml->sysuserRemove('ACME_web');
    throws(NotFoundException::class, -3, fn() => $ml->sysuserRemove('acme_web'));
    $ml->sysuserAdd('acme_web', 'other');
});

test('hierarchy: sysuserMove', function (): void {
    $ml = fixture();
    $ml->decide(Level::SUBSCRIPTION, 'acme_web', 1, T0);
    $ml->sysuserMove('ACME_WEB', 'other');
    $ml->decide(Level::SUBSCRIPTION, 'acme_web', 1, T0 + 1);
    eq($ml->status(Level::SUBSCRIPTION, 'acme', Window::HOUR, T0 + 2)->count, 1);
    eq($ml->status(Level::SUBSCRIPTION, 'other', Window::HOUR, T0 + 2)->count, 1);
    throws(NotFoundException::class, -3, fn() => $ml->sysuserMove('nobody', 'acme'));
    throws(NotFoundException::class, -3, fn() => $ml->sysuserMove('acme_web', 'nosuch'));
    throws(InvalidArgumentException::class, -1, fn() => $ml->sysuserMove('a b', 'acme'));
});

test('hierarchy: domainMove keeps counts and changes the parent', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::SUBSCRIPTION, 'other', Level::SUBSCRIPTION, Window::HOUR, 2);
    $ml->decide(Level::MAILBOX, 'ceo@acme.example', 1, T0);
    $ml->domainMove('acme.example', 'other');
    eq($ml->status(Level::DOMAIN, 'acme.example', Window::HOUR, T0 + 1)->count, 1);
    eq($ml->status(Level::SUBSCRIPTION, 'acme', Window::HOUR, T0 + 1)->count, 1);
    eq($ml->status(Level::SUBSCRIPTION, 'other', Window::HOUR, T0 + 1)->count, 0);
    eq($ml->decide(Level::MAILBOX, 'ceo@acme.example', 1, T0 + 2)->count, 1);
    eq($ml->status(Level::SUBSCRIPTION, 'other', Window::HOUR, T0 + 3)->count, 1);
    throws(NotFoundException::class, -3, fn() => $ml->domainMove('acme.example', 'nosuch'));
    throws(NotFoundException::class, -3, fn() => $ml->domainMove('nosuch.example', 'acme'));
});

test('hierarchy: subscriptionPlanSet', function (): void {
    $ml = fixture();
    $ml->planAdd('pro');
    $ml->limitSet(Level::PLAN, 'basic', Level::MAILBOX, Window::HOUR, 50);
    $ml->limitSet(Level::PLAN, 'pro', Level::MAILBOX, Window::HOUR, 500);
    eq($ml->limitEffective(Level::MAILBOX, 'ceo@acme.example'), 50);
    $ml->subscriptionPlanSet('acme', 'pro');
    eq($ml->limitEffective(Level::MAILBOX, 'ceo@acme.example'), 500);
    $ml->subscriptionPlanSet('acme', null);
    eq($ml->limitEffective(Level::MAILBOX, 'ceo@acme.example'), Limiter::UNLIMITED);
    throws(NotFoundException::class, -3, fn() => $ml->subscriptionPlanSet('acme', 'nosuch'));
    throws(NotFoundException::class, -3, fn() => $ml->subscriptionPlanSet('nosuch', 'pro'));
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

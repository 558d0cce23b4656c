<?php
// SPDX-License-Identifier: MIT

/** limitSet, limitConfigured, limitEffective, enabledSet, enabledGet, flagSet, flagEffective,
 * flagConfigured, unitSet, unitGet. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{Flag, InvalidArgumentException, Level, Limiter, NotFoundException, Unit, Window};


test('limits: everything is unlimited by default', function (): void {
    $ml = fixture();
    foreach ([[Level::SERVER, null], [Level::SUBSCRIPTION, 'acme'],
              [Level::DOMAIN, 'acme.example'], [Level::MAILBOX, CEO]] as [$lv, $name]) {
        foreach ([Window::HOUR, Window::DAY] as $w) {
            eq($ml->limitEffective($lv, $name, $w), Limiter::UNLIMITED);
        }
    }
    eq($ml->limitConfigured(Level::SERVER, null, Level::MAILBOX, Window::HOUR), Limiter::UNLIMITED);
    eq($ml->limitConfigured(Level::DOMAIN, 'acme.example', Level::MAILBOX, Window::HOUR),
        Limiter::DEFAULT);
});

test('limits: inheritance walks up to the nearest value', function (): void {
    $ml = fixture();
    $M = Level::MAILBOX;
    $H = Window::HOUR;
    $ml->limitSet(Level::SERVER, null, $M, $H, 100);
    eq($ml->limitEffective($M, CEO, $H), 100);
    $ml->limitSet(Level::PLAN, 'basic', $M, $H, 50);
    eq($ml->limitEffective($M, CEO, $H), 50);
    $ml->limitSet(Level::SUBSCRIPTION, 'acme', $M, $H, 40);
    eq($ml->limitEffective($M, CEO, $H), 40);
    $ml->limitSet(Level::DOMAIN, 'acme.example', $M, $H, 30);
    eq($ml->limitEffective($M, CEO, $H), 30);
    $ml->limitSet($M, CEO, $M, $H, 20);
    eq($ml->limitEffective($M, CEO, $H), 20);
    eq($ml->limitEffective($M, CEO, Window::DAY), Limiter::UNLIMITED);
    $ml->limitSet($M, CEO, $M, $H, Limiter::DEFAULT);
    eq($ml->limitEffective($M, CEO, $H), 30);
    $ml->limitSet(Level::DOMAIN, 'acme.example', $M, $H, Limiter::UNLIMITED);
    eq($ml->limitEffective($M, CEO, $H), Limiter::UNLIMITED);
    eq($ml->limitConfigured($M, CEO, $M, $H), Limiter::DEFAULT);
    eq($ml->limitConfigured(Level::PLAN, 'basic', $M, $H), 50);
    eq($ml->limitConfigured(Level::SERVER, null, $M, $H), 100);
});

test('limits: each level and the server total, ints for enums', function (): void {
    $ml = fixture();
    $ml->limitSet(Level::SERVER, null, Level::SERVER, Window::HOUR, 1000);
    $ml->limitSet(0, null, 0, 1, 20000);
    $ml->limitSet(Level::PLAN, 'basic', Level::SUBSCRIPTION, Window::DAY, 900);
    $ml->limitSet(Level::SUBSCRIPTION, 'acme', Level::DOMAIN, Window::HOUR, 300);
    $ml->limitSet(Level::DOMAIN, 'acme.example', Level::DOMAIN, Window::DAY, 0);
    eq($ml->limitEffective(Level::SERVER, null, Window::HOUR), 1000);
    eq($ml->limitEffective(Level::SERVER, null, Window::DAY), 20000);
    eq($ml->limitEffective(Level::SUBSCRIPTION, 'acme', Window::DAY), 900);
    eq($ml->limitEffective(Level::SUBSCRIPTION, 'other', Window::DAY), Limiter::UNLIMITED);
    eq($ml->limitEffective(Level::DOMAIN, 'acme.example', Window::HOUR), 300);
    eq($ml->limitEffective(Level::DOMAIN, 'acme.example', Window::DAY), 0);
});

test('limits: targets a level may not set, bad values and entities', function (): void {
    $ml = fixture();
    $H = Window::HOUR;
    foreach ([[Level::SERVER, null, Level::PLAN], [Level::PLAN, 'basic', Level::SERVER],
              [Level::SUBSCRIPTION, 'acme', Level::SERVER],
              [Level::DOMAIN, 'acme.example', Level::SUBSCRIPTION],
              [Level::MAILBOX, CEO, Level::DOMAIN]] as [$lv, $name, $target]) {
        throws(InvalidArgumentException::class, -1,
            fn() => $ml->limitSet($lv, $name, $target, $H, 1));
    }
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->limitSet(Level::SERVER, null, Level::MAILBOX, $H, Limiter::DEFAULT));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->limitSet(Level::DOMAIN, 'acme.example', Level::MAILBOX, $H, -3));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->limitSet(Level::DOMAIN, 'acme.example', Level::MAILBOX, 2, 5));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->limitSet(Level::DOMAIN, 'acme.example', Level::MAILBOX, (1 << 32), 5));
    throws(InvalidArgumentException::class, -1, fn() => $ml->limitEffective(Level::PLAN, 'basic'));
    throws(NotFoundException::class, -3,
        fn() => $ml->limitSet(Level::DOMAIN, 'nosuch.example', Level::MAILBOX, $H, 5));
    throws(NotFoundException::class, -3,
        fn() => $ml->limitEffective(Level::MAILBOX, 'nobody@acme.example'));
    throws(NotFoundException::class, -3,
        fn() => $ml->limitConfigured(Level::PLAN, 'nosuch', Level::MAILBOX, $H));
    throws(\TypeError::class, null,
        fn() => $ml->limitSet(Level::DOMAIN, 'acme.example', Level::MAILBOX, $H, 2.5));
    eq($ml->limitEffective(Level::MAILBOX, CEO), Limiter::UNLIMITED);
});

test('flags: sendmail defaults on and inherits', function (): void {
    $ml = fixture();
    eq($ml->flagEffective(Level::SERVER, null, Flag::SENDMAIL), true);
    eq($ml->flagEffective(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL), true);
    eq($ml->flagConfigured(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL), Limiter::DEFAULT);
    $ml->flagSet(Level::PLAN, 'basic', Flag::SENDMAIL, false);
    eq($ml->flagEffective(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL), false);
    eq($ml->flagEffective(Level::SUBSCRIPTION, 'other', Flag::SENDMAIL), true);
    eq($ml->flagConfigured(Level::PLAN, 'basic', Flag::SENDMAIL), 0);
    $ml->flagSet(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL, true);
    eq($ml->flagConfigured(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL), 1);
    $ml->flagSet(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL, Limiter::DEFAULT);
    eq($ml->flagEffective(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL), false);
    $ml->flagSet(Level::SERVER, null, Flag::SENDMAIL, 0);
    eq($ml->flagEffective(Level::SUBSCRIPTION, 'other', Flag::SENDMAIL), false);
});

test('flags: exempt inherits and an explicit zero wins', function (): void {
    $ml = fixture();
    eq($ml->flagEffective(Level::MAILBOX, CEO, Flag::EXEMPT), false);
    $ml->flagSet(Level::DOMAIN, 'acme.example', Flag::EXEMPT, true);
    eq($ml->flagEffective(Level::MAILBOX, CEO, Flag::EXEMPT), true);
    eq($ml->flagConfigured(Level::MAILBOX, CEO, Flag::EXEMPT), Limiter::DEFAULT);
    $ml->flagSet(Level::MAILBOX, CEO, Flag::EXEMPT, false);
    eq($ml->flagEffective(Level::MAILBOX, CEO, Flag::EXEMPT), false);
    eq($ml->flagConfigured(Level::MAILBOX, CEO, Flag::EXEMPT), 0);
});

test('flags: where they do not live', function (): void {
    $ml = fixture();
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->flagSet(Level::SERVER, null, Flag::EXEMPT, 1));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->flagSet(Level::DOMAIN, 'acme.example', Flag::SENDMAIL, 1));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->flagSet(Level::SERVER, null, Flag::SENDMAIL, Limiter::DEFAULT));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->flagSet(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL, 2));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->flagSet(Level::SUBSCRIPTION, 'acme', 7, 1));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->flagEffective(Level::SERVER, null, Flag::EXEMPT));
    throws(InvalidArgumentException::class, -1,
        fn() => $ml->flagConfigured(Level::MAILBOX, CEO, Flag::SENDMAIL));
    throws(NotFoundException::class, -3,
        fn() => $ml->flagEffective(Level::SUBSCRIPTION, 'nosuch', Flag::SENDMAIL));
});

test('switch and unit', function (): void {
    $ml = fixture();
    eq($ml->enabledGet(), true);
    $ml->enabledSet(false);
    eq($ml->enabledGet(), false);
    $ml->enabledSet();
    eq($ml->enabledGet(), true);
    eq($ml->unitGet(), Unit::MESSAGES);
    $ml->unitSet(Unit::RECIPIENTS);
    eq($ml->unitGet(), Unit::RECIPIENTS);
    throws(InvalidArgumentException::class, -1, fn() => $ml->unitSet(2));
    eq($ml->unitGet(), Unit::RECIPIENTS);
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

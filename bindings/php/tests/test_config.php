<?php
// SPDX-License-Identifier: MIT

/** configLoad, configLoadMem, configApply, configApplyMem. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{Flag, FormatException, IOException, Level, Limiter, NotFoundException, Unit,
    Window};

const SPEC_EXAMPLE = <<<'CONF'
enable yes
unit recipients                    # or messages
server mailbox=100 domain=500 subscription=1000 server.day=unlimited
plan basic mailbox=50 domain=200 subscription=400 sendmail=yes
subscription acme plan=basic subscription=unlimited
domain acme.example subscription=acme domain=300 mailbox.day=2000
mailbox ceo@acme.example mailbox=20
mailbox news@acme.example exempt=yes
sysuser acme_web subscription=acme

CONF;

function check_spec_example(Limiter $ml): void
{
    eq($ml->enabledGet(), true);
    eq($ml->unitGet(), Unit::RECIPIENTS);
    eq($ml->limitConfigured(Level::SERVER, null, Level::MAILBOX, Window::HOUR), 100);
    eq($ml->limitEffective(Level::SERVER, null, Window::DAY), Limiter::UNLIMITED);
    eq($ml->limitConfigured(Level::PLAN, 'basic', Level::MAILBOX, Window::HOUR), 50);
    eq($ml->limitEffective(Level::SUBSCRIPTION, 'acme'), Limiter::UNLIMITED);
    eq($ml->limitEffective(Level::DOMAIN, 'acme.example'), 300);
    eq($ml->limitEffective(Level::MAILBOX, 'ceo@acme.example'), 20);
    eq($ml->limitEffective(Level::MAILBOX, 'ceo@acme.example', Window::DAY), 2000);
    eq($ml->limitEffective(Level::MAILBOX, 'news@acme.example'), 50);
    eq($ml->flagEffective(Level::MAILBOX, 'news@acme.example', Flag::EXEMPT), true);
    eq($ml->flagConfigured(Level::PLAN, 'basic', Flag::SENDMAIL), 1);
    $ml->sysuserRemove('acme_web');
}

test('config: configLoadMem of the spec example', function (): void {
    $ml = new Limiter();
    $ml->configLoadMem(SPEC_EXAMPLE);
    check_spec_example($ml);
});

test('config: the length is passed, not a terminator', function (): void {
    $ml = new Limiter();
    $e = throws(FormatException::class, -7, fn() => $ml->configLoadMem("plan a\nplan b\0c\n"));
    eq($e->getDetail(), '<memory>:2: NUL byte in the line');
});

test('config: configLoad of a file', function (): void {
    $ml = new Limiter();
    $path = tempnam(sys_get_temp_dir(), 'mlconf');
    file_put_contents($path, SPEC_EXAMPLE);
    try {
        $ml->configLoad($path);
    } finally {
        unlink($path);
    }
    check_spec_example($ml);
});

test('config: a format error names the line and changes nothing', function (): void {
    $ml = new Limiter();
    $text = "plan basic mailbox=50\nmailbox ceo@acme.example mailbox=abc\n";
    $e = throws(FormatException::class, -7, fn() => $ml->configLoadMem($text));
    eq($e->getDetail(), '<memory>:2: bad value "abc" for key "mailbox" '
        . '(expected a number, "unlimited" or "default")');
    eq($e->getMessage(), 'maillimit_config_load_mem: malformed input: ' . $e->getDetail());
    ok($e instanceof \UnexpectedValueException, 'an UnexpectedValueException');
    throws(NotFoundException::class, -3,
        fn() => $ml->limitConfigured(Level::PLAN, 'basic', Level::MAILBOX, Window::HOUR));
});

test('config: file errors name the file', function (): void {
    $ml = new Limiter();
    $path = tempnam(sys_get_temp_dir(), 'mlconf');
    file_put_contents($path, "enable maybe\n");
    try {
        $e = throws(FormatException::class, -7, fn() => $ml->configLoad($path));
        ok(str_starts_with($e->getDetail(), "$path:1: "), 'detail starts with FILE:1:');
    } finally {
        unlink($path);
    }
    $e = throws(IOException::class, -6, fn() => $ml->configLoad($path));
    ok(str_contains($e->getDetail(), $path), 'the I/O error names the file');
});

const APPLY_FIRST = "server mailbox=100\nplan basic mailbox=50\nsubscription acme plan=basic\n"
    . "subscription old\ndomain acme.example subscription=acme mailbox=30\n"
    . "mailbox ceo@acme.example mailbox=20\nsysuser acme_web subscription=acme\n";
const APPLY_SECOND = "plan basic\nsubscription acme plan=basic\n"
    . "domain acme.example subscription=acme\n";

function apply_fixture(): Limiter
{
    $ml = new Limiter();
    $ml->configLoadMem(APPLY_FIRST);
    $ml->decide(Level::MAILBOX, CEO, 3, T0);
    $ml->decide(Level::MAILBOX, 'implicit@acme.example', 1, T0);
    return $ml;
}

function check_applied(Limiter $ml): void
{
    eq($ml->limitConfigured(Level::SERVER, null, Level::MAILBOX, Window::HOUR), Limiter::UNLIMITED);
    eq($ml->limitConfigured(Level::PLAN, 'basic', Level::MAILBOX, Window::HOUR), Limiter::DEFAULT);
    eq($ml->limitConfigured(Level::DOMAIN, 'acme.example', Level::MAILBOX, Window::HOUR),
        Limiter::DEFAULT);
    throws(NotFoundException::class, -3, fn() => $ml->limitEffective(Level::MAILBOX, CEO));
    throws(NotFoundException::class, -3, fn() => $ml->limitEffective(Level::SUBSCRIPTION, 'old'));
    throws(NotFoundException::class, -3, fn() => $ml->sysuserRemove('acme_web'));
    eq($ml->status(Level::DOMAIN, 'acme.example', Window::HOUR, T0 + 1)->count, 4);
    eq($ml->status(Level::MAILBOX, 'implicit@acme.example', Window::HOUR, T0 + 1)->count, 1);
}

test('config: configApplyMem makes the text the whole configuration', function (): void {
    $ml = apply_fixture();
    $ml->configApplyMem(APPLY_SECOND);
    check_applied($ml);
});

test('config: configApply of a file', function (): void {
    $ml = apply_fixture();
    $path = tempnam(sys_get_temp_dir(), 'mlconf');
    file_put_contents($path, APPLY_SECOND);
    try {
        $ml->configApply($path);
    } finally {
        unlink($path);
    }
    check_applied($ml);
});

test('config: an apply with an error changes nothing', function (): void {
    $ml = apply_fixture();
    $e = throws(FormatException::class, -7,
        fn() => $ml->configApplyMem("domain x.example subscription=nosuch\n"));
    eq($e->getDetail(), '<memory>:1: domain "x.example": subscription "nosuch" does not exist');
    eq($e->getFunction(), 'maillimit_config_apply_mem');
    eq($ml->limitEffective(Level::MAILBOX, CEO), 20);
    throws(IOException::class, -6, fn() => $ml->configApply('/nonexistent/panel.conf'));
    eq($ml->limitEffective(Level::SUBSCRIPTION, 'old'), Limiter::UNLIMITED);
});

test('config: a reload keeps counters', function (): void {
    $ml = fixture();
    $ml->decide(Level::MAILBOX, CEO, 3, T0);
    $ml->configLoadMem("domain acme.example subscription=other mailbox=5\n");
    eq($ml->status(Level::MAILBOX, CEO, Window::HOUR, T0 + 1)->count, 3);
    eq($ml->limitEffective(Level::MAILBOX, CEO), 5);
    eq($ml->status(Level::SUBSCRIPTION, 'other', Window::HOUR, T0 + 1)->count, 0);
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

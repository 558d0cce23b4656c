<?php
// SPDX-License-Identifier: MIT

/** What only the Client has: the daemon's messages, reconnecting, timeouts, one request per page. */

declare(strict_types=1);

use Maillimit\Client;
use Maillimit\DaemonTimeoutException;
use Maillimit\DaemonUnavailableException;
use Maillimit\ErrorCode;
use Maillimit\FormatException;
use Maillimit\IOException;
use Maillimit\Level;
use Maillimit\Library;
use Maillimit\NotFoundException;
use Maillimit\Window;

const ACME = "subscription acme\ndomain x.example subscription=acme\n";

test('client: error texts are the library\'s', static function (): void {
    foreach (ErrorCode::cases() as $c) {
        eq($c->message(), Library::strerror($c->value), $c->name);
    }
});

test('client: errors carry the daemon\'s message', static function (): void {
    with_daemon(static function (Daemon $d): void {
        $ml = new Client($d->socket);
        $e = throws(NotFoundException::class, ErrorCode::ENOTFOUND->value,
            fn () => $ml->limitSet(Level::MAILBOX, 'nosuch@x.example', Level::MAILBOX, Window::HOUR, 5));
        eq([$e->getFunction(), $e->getLibraryMessage(), $e->getDetail(), $e->getMessage()],
            ['limit.set', 'not found', 'mailbox nosuch@x.example: not found',
             'limit.set: mailbox nosuch@x.example: not found']);
    }, ACME);
});

test('client: reconnects after a daemon restart', static function (): void {
    with_daemon(static function (Daemon $d): void {
        $ml = new Client($d->socket);
        $ml->mailboxAdd('a@x.example');
        eq(count($ml->list(Level::MAILBOX)), 1);
        $d->restart();
        eq(count($ml->list(Level::MAILBOX)), 0);
        $ml->mailboxAdd('b@x.example');
        eq($ml->list(Level::MAILBOX)[0]->name, 'b@x.example');
    }, ACME);
});

test('client: daemon down', static function (): void {
    with_daemon(static function (Daemon $d): void {
        $ml = new Client($d->socket);
        ok($ml->ping(), 'ping');
        $d->stop();
        $e = throws(DaemonUnavailableException::class, ErrorCode::EIO->value, fn () => $ml->ping());
        ok($e instanceof IOException, 'an IOException');
        ok(str_starts_with($e->getDetail(), "cannot connect to {$d->socket}: "), $e->getDetail());
        $d->start();
        ok($ml->ping(), 'ping after the start');
    }, ACME);
});

test('client: timeout, then the next call gets its own answer', static function (): void {
    with_daemon(static function (Daemon $d): void {
        $ml = new Client($d->socket, 0.3);
        ok($ml->ping(), 'ping');
        $d->pause();
        try {
            $e = throws(DaemonTimeoutException::class, ErrorCode::EIO->value,
                fn () => $ml->limitEffective(Level::DOMAIN, 'x.example'));
            eq($e->getDetail(), "no answer from {$d->socket} within 0.3 s");
        } finally {
            $d->resume();
        }
        eq($ml->version()['number'], 10000);
        eq($ml->limitEffective(Level::DOMAIN, 'x.example'), -1);
    }, ACME);
});

test('client: a page of 50 mailboxes with status is one request', static function (): void {
    with_daemon(static function (Daemon $d): void {
        $ml = new Client($d->socket);
        for ($i = 0; $i < 120; $i++) {
            $ml->mailboxAdd(sprintf('u%03d@x.example', $i));
        }
        $ml->decide(Level::MAILBOX, 'u101@x.example', 3, CT + 10);
        $before = $ml->stats()['admin_requests'];
        $page = $ml->listPage(Level::MAILBOX, Level::SUBSCRIPTION, 'acme', offset: 100, count: 50,
            now: CT + 20);
        eq($ml->stats()['admin_requests'] - $before, 2);
        eq([$page->total, $page->offset, count($page->entities)], [120, 100, 20]);
        eq($page->entities[1]->status->count, 3);
        eq($page->entities[1]->status->resetAfter, 3580);
        eq(count($ml->list(Level::MAILBOX)), 120);
    }, ACME);
});

test('client: daemon calls', static function (): void {
    with_daemon(static function (Daemon $d): void {
        $ml = new Client($d->socket);
        eq($ml->version()['library'], '1.0.0');
        $ml->configReload();
        file_put_contents($d->config, "bogus 1\n", FILE_APPEND);
        $e = throws(FormatException::class, ErrorCode::EFORMAT->value, fn () => $ml->configReload());
        ok(str_starts_with($e->getDetail(), "{$d->config}:7: unknown directive \"bogus\""),
            $e->getDetail());
        eq($ml->call('ping'), 'pong');
        $ml->close();
        throws(\Maillimit\InvalidArgumentException::class, ErrorCode::EINVAL->value,
            fn () => $ml->ping());
    }, ACME);
});

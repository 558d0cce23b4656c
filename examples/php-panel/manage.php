<?php
// SPDX-License-Identifier: MIT

/**
 * A control panel managing a running maillimitd, in PHP: copy what you need.
 *
 * 1. create a subscription with two domains and four mailboxes, and its default limits;
 * 2. (traffic: here the daemon's `decide`, at explicit times; in production Postfix sends it)
 * 3. list the subscription's mailboxes with their status: one request per page;
 * 4. raise the limit of a domain whose mailboxes are blocked;
 * 5. reset a blocked mailbox;
 * 6. show the subscription's hourly history for the day.
 *
 * Run it against maillimitd's admin socket (php-msgpack; no FFI needed), or in process:
 *
 *     php examples/php-panel/manage.php --socket /var/lib/maillimit/maillimitd.sock
 *     MAILLIMIT_LIBRARY=build/libmaillimit/libmaillimit.so \
 *         php -d ffi.enable=1 examples/php-panel/manage.php --in-process
 *
 * The panel is written against Maillimit\MaillimitApi; only the constructor differs. A real
 * panel passes $now = 0 (the clock); the times here are explicit (a day in 2030) so that the
 * output is the same on every run. It prints the same text as examples/python-panel/manage.py.
 */

declare(strict_types=1);

require getenv('MAILLIMIT_PHP_AUTOLOAD') ?: __DIR__ . '/../../bindings/php/autoload.php';

use Maillimit\{Client, Level, Limiter, MaillimitApi, NotFoundException, Window};

const DAY = 1893920400 - 1893920400 % 86400; // 2030-01-07 00:00:00 UTC
const T = DAY + 9 * 3600;                     // 09:00

function clock(int $t): string
{
    return gmdate('H:i', $t);
}

function amount(int $v): string
{
    return $v === Limiter::UNLIMITED ? 'unlimited' : (string)$v;
}

function create(MaillimitApi $ml): void
{
    $ml->subscriptionAdd('globex');
    $ml->domainAdd('globex.example', 'globex');
    $ml->domainAdd('globex-shop.example', 'globex');
    foreach (['ceo@globex.example', 'info@globex.example', 'sales@globex.example',
              'orders@globex-shop.example'] as $address) {
        $ml->mailboxAdd($address);
    }
    $ml->limitSet(Level::SUBSCRIPTION, 'globex', Level::MAILBOX, Window::HOUR, 10);
    $ml->limitSet(Level::SUBSCRIPTION, 'globex', Level::SUBSCRIPTION, Window::HOUR, 100);
    $ml->limitSet(Level::DOMAIN, 'globex-shop.example', Level::DOMAIN, Window::HOUR, 4);
    $ml->limitSet(Level::MAILBOX, 'ceo@globex.example', Level::MAILBOX, Window::HOUR, 30);
}

function traffic(MaillimitApi $ml, string $sender, int $n, int $start, int $step = 60): int
{
    $denied = 0;
    for ($i = 0; $i < $n; $i++) {
        $denied += $ml->decide(Level::MAILBOX, $sender, 1, $start + $i * $step)->denied() ? 1 : 0;
    }
    return $denied;
}

function show_mailboxes(MaillimitApi $ml, int $now, string $title): void
{
    echo "$title (" . clock($now) . "):\n";
    $page = $ml->listPage(Level::MAILBOX, Level::SUBSCRIPTION, 'globex', offset: 0, count: 50,
        window: Window::HOUR, now: $now);
    echo "  {$page->total} mailboxes\n";
    foreach ($page->entities as $e) {
        $st = $e->status;
        $state = $st->sending ? 'Sending'
            : 'Not sending (' . strtolower($st->blockedBy->name) . ' limit)';
        $own = $e->limits['mailbox/hour'];
        $shown = $own === Limiter::DEFAULT ? 'Default (' . amount($st->limit) . ')' : amount($own);
        printf("  %-28s %-28s %3d sent   limit %-14s reset in %d s\n", $e->name, $state,
            $st->count, $shown, $st->resetAfter);
    }
}

$opts = getopt('', ['socket:', 'in-process']);
$ml = isset($opts['in-process']) ? new Limiter() : new Client($opts['socket'] ?? null);

create($ml);
echo 'Created subscription globex: ' . implode(', ', array_map(fn ($e) => $e->name,
    $ml->list(Level::DOMAIN, Level::SUBSCRIPTION, 'globex'))) . "\n";

// traffic (Postfix does this in production)
$denied = traffic($ml, 'ceo@globex.example', 12, DAY + 8 * 3600 + 1200);
$denied += traffic($ml, 'sales@globex.example', 14, T + 300);
$denied += traffic($ml, 'orders@globex-shop.example', 6, T + 600);
$denied += traffic($ml, 'info@globex.example', 3, T + 900);
echo "Traffic 08:20-09:17: $denied messages refused\n\n";
$now = T + 1200;
show_mailboxes($ml, $now, 'Mailboxes of globex');

// the shop's mailboxes are blocked by their domain: raise its limit
echo "\n";
$ml->limitSet(Level::DOMAIN, 'globex-shop.example', Level::DOMAIN, Window::HOUR, 8);
$st = $ml->status(Level::MAILBOX, 'orders@globex-shop.example', Window::HOUR, $now);
echo 'Raised globex-shop.example to ' . $ml->limitEffective(Level::DOMAIN, 'globex-shop.example')
    . ' per hour: orders@globex-shop.example is ' . ($st->sending ? 'sending' : 'not sending')
    . "\n";

// sales@ reached its own limit: unblock it
$ml->reset(Level::MAILBOX, 'sales@globex.example');
$st = $ml->status(Level::MAILBOX, 'sales@globex.example', Window::HOUR, $now);
echo 'Reset sales@globex.example: ' . ($st->sending ? 'sending' : 'not sending')
    . ", {$st->remaining} left this hour\n\n";
show_mailboxes($ml, $now, 'Mailboxes of globex after the changes');

echo "\nToday's history of globex (sent / denied per hour):\n";
foreach ($ml->history(Level::SUBSCRIPTION, 'globex', DAY, DAY + 86400, $now) as $row) {
    printf("  %s  %4d %4d\n", clock($row->hourStart), $row->sent, $row->denied);
}
$names = ['globex.example', 'globex-shop.example', 'globex'];
$statuses = $ml->statusMany([[Level::DOMAIN, $names[0]], [Level::DOMAIN, $names[1]],
    [Level::SUBSCRIPTION, $names[2]]], Window::HOUR, $now);
echo 'This hour: ' . implode(', ', array_map(fn ($n, $s) => "$n {$s->count}/" . amount($s->limit),
    $names, $statuses)) . "\n";
try {
    $ml->reset(Level::MAILBOX, 'nosuch@globex.example');
} catch (NotFoundException $e) {
    echo "Reset of an unknown mailbox: NotFound\n";
}
$ml->close();

<?php
// SPDX-License-Identifier: MIT

/**
 * A control panel's use of libmaillimit, in PHP: copy what you need.
 *
 * 1. build the hierarchy: plans, subscriptions, domains, mailboxes, a system user;
 * 2. set limits at plan, subscription, domain and mailbox level (and show them as a panel
 *    does: "Default (20)" when inherited, "30" when set);
 * 3. simulate two hours of traffic with explicit times, including a mailbox whose password
 *    was stolen at 10:20 and that then tries to send 5 messages a minute;
 * 4. print the top senders, that mailbox's episodes ("attempts to send after reaching the
 *    limit"), statuses, the summary and the notification events.
 *
 * Run:  MAILLIMIT_LIBRARY=build/libmaillimit/libmaillimit.so \
 *       php -d ffi.enable=1 examples/php-panel/panel.php
 *
 * With Composer, require maillimit/maillimit and use vendor/autoload.php instead. A real
 * panel passes $now = 0 (the system clock); the times here are explicit so that the output
 * is the same on every run.
 */

declare(strict_types=1);

require getenv('MAILLIMIT_PHP_AUTOLOAD') ?: __DIR__ . '/../../bindings/php/autoload.php';

use Maillimit\{Flag, Level, Limiter, Metric, Window};

const START = 1704103200; // 2024-01-01 10:00:00 UTC
const MINUTE = 60;
const HOUR = 3600;

function clock(int $t): string
{
    return $t >= 0 ? gmdate('H:i', $t) : '-';
}

function amount(int $v): string
{
    return $v === Limiter::UNLIMITED ? 'unlimited' : (string)$v;
}

/** A limit as a panel shows it: the value set there, or "Default (effective)". */
function shown_limit(Limiter $ml, Level $level, string $name, Level $target): string
{
    $value = $ml->limitConfigured($level, $name, $target, Window::HOUR);
    if ($value === Limiter::DEFAULT) {
        return 'Default (' . amount($ml->limitEffective($target, $name, Window::HOUR)) . ')';
    }
    return amount($value);
}

function build(Limiter $ml): void
{
    $ml->planAdd('basic');
    $ml->planAdd('pro');
    $ml->subscriptionAdd('acme', 'basic');
    $ml->subscriptionAdd('globex', 'pro');
    $ml->domainAdd('acme.example', 'acme');
    $ml->domainAdd('acme-shop.example', 'acme');
    $ml->domainAdd('globex.example', 'globex');
    foreach (['ceo@acme.example', 'sales@acme.example', 'news@acme.example',
              'orders@acme-shop.example', 'info@globex.example'] as $address) {
        $ml->mailboxAdd($address);
    }
    $ml->sysuserAdd('acme_web', 'acme');

    $H = Window::HOUR;
    $ml->limitSet(Level::SERVER, null, Level::MAILBOX, $H, 100);              // server defaults
    $ml->limitSet(Level::SERVER, null, Level::SUBSCRIPTION, $H, 1000);
    $ml->limitSet(Level::PLAN, 'basic', Level::MAILBOX, $H, 20);              // plan
    $ml->limitSet(Level::PLAN, 'basic', Level::SUBSCRIPTION, $H, 150);
    $ml->limitSet(Level::SUBSCRIPTION, 'acme', Level::DOMAIN, $H, 120);       // subscription
    $ml->limitSet(Level::DOMAIN, 'acme-shop.example', Level::MAILBOX, $H, 5); // domain
    $ml->limitSet(Level::MAILBOX, 'ceo@acme.example', Level::MAILBOX, $H, 30); // mailbox
    $ml->limitSet(Level::MAILBOX, 'ceo@acme.example', Level::MAILBOX, Window::DAY, 200);
    $ml->flagSet(Level::MAILBOX, 'news@acme.example', Flag::EXEMPT, true);    // newsletters
}

/** Two hours from 10:00; returns the units denied per sender. @return array<string,int> */
function traffic(Limiter $ml): array
{
    $denied = [];
    for ($minute = 0; $minute < 120; $minute++) {
        $now = START + $minute * MINUTE;
        $senders = $minute % 3 === 0 ? [[Level::MAILBOX, 'ceo@acme.example', 1]] : [];
        if ($minute % 10 === 0) {
            $senders[] = [Level::MAILBOX, 'info@globex.example', 1];
            $senders[] = [Level::MAILBOX, 'orders@acme-shop.example', 1];
            $senders[] = [Level::DOMAIN, 'acme-shop.example', 1];    // the shop's PHP mail()
        }
        if ($minute % 15 === 0) {
            $senders[] = [Level::SUBSCRIPTION, 'acme_web', 1];        // a cron job
        }
        if ($minute === 5) {
            $senders[] = [Level::MAILBOX, 'news@acme.example', 500]; // exempt
        }
        if ($minute >= 20 && $minute < 50) {
            for ($i = 0; $i < 5; $i++) {
                $senders[] = [Level::MAILBOX, 'sales@acme.example', 1]; // the spammer
            }
        }
        foreach ($senders as [$level, $sender, $cost]) {
            if ($ml->decide($level, $sender, $cost, $now)->denied()) {
                $denied[$sender] = ($denied[$sender] ?? 0) + $cost;
            }
        }
    }
    return $denied;
}

/** @param array<string,int> $denied */
function report(Limiter $ml, array $denied): void
{
    $end = START + 2 * HOUR;
    echo "Limits as the panel shows them (per hour):\n";
    foreach (['ceo@acme.example', 'sales@acme.example', 'orders@acme-shop.example',
              'info@globex.example'] as $name) {
        printf("  %-26s mailbox limit %s\n", $name,
            shown_limit($ml, Level::MAILBOX, $name, Level::MAILBOX));
    }
    foreach (['acme.example', 'acme-shop.example'] as $name) {
        printf("  %-26s domain limit  %s\n", $name,
            shown_limit($ml, Level::DOMAIN, $name, Level::DOMAIN));
    }
    echo "\nDenied during the simulation:\n";
    ksort($denied, SORT_STRING);
    foreach ($denied as $sender => $n) {
        printf("  %-26s %d\n", $sender, $n);
    }
    echo "\nTop senders 10:00-12:00 (sent / denied / exempt):\n";
    foreach ($ml->top(Level::MAILBOX, Metric::SENT, START, $end, 5, now: $end) as $row) {
        printf("  %-26s %5d %5d %5d\n", $row->name, $row->sent, $row->denied, $row->exempt);
    }
    echo "Top denied, subscription acme only:\n";
    foreach ($ml->top(Level::MAILBOX, Metric::DENIED, START, $end, 3, Level::SUBSCRIPTION,
                 'acme', $end) as $row) {
        printf("  %-26s %5d\n", $row->name, $row->denied);
    }
    echo "\nHistory of sales@acme.example (sent / denied per hour):\n";
    foreach ($ml->history(Level::MAILBOX, 'sales@acme.example', START, $end, $end) as $row) {
        printf("  %s %5d %5d\n", clock($row->hourStart), $row->sent, $row->denied);
    }
    echo "Episodes of sales@acme.example (over its limit):\n";
    foreach ($ml->episodes(Level::MAILBOX, 'sales@acme.example', START, $end, $end) as $ep) {
        $back = $ep->ongoing ? 'ongoing' : 'back to normal ' . clock($ep->ended);
        printf("  %s reached %d/%s, %d denied, %s\n", clock($ep->started), $ep->limit,
            strtolower($ep->window->name), $ep->denied, $back);
    }
    echo "\nStatus at 12:00:\n";
    foreach ([[Level::MAILBOX, 'sales@acme.example'], [Level::DOMAIN, 'acme.example'],
              [Level::SUBSCRIPTION, 'acme'], [Level::SERVER, null]] as [$level, $name]) {
        $s = $ml->status($level, $name, Window::HOUR, $end);
        printf("  %-12s %-20s %-11s %4d of %-9s reset in %d s\n", strtolower($level->name),
            $name ?? '(server)', $s->sending ? 'Sending' : 'Not sending', $s->count,
            amount($s->limit), $s->resetAfter);
    }
    $s = $ml->summary(Level::SERVER, null, START, $end, $end);
    printf("\nSummary: %d sent, %d denied, %d exempt, %d unattributed, %d entities reached a "
        . "limit\n", $s->sent, $s->denied, $s->exempt, $s->unattributed, $s->limitedEntities);
    echo "Notifications:\n";
    foreach ($ml->events($end) as $ev) {
        printf("  #%d %s %-14s %s %s (limit %d/%s, %d denied)\n", $ev->seq, clock($ev->time),
            $ev->type->name, strtolower($ev->level->name), $ev->name, $ev->limit,
            strtolower($ev->window->name), $ev->denied);
    }
}

$ml = new Limiter();
try {
    build($ml);
    report($ml, traffic($ml));
} finally {
    $ml->close();
}

<?php
// SPDX-License-Identifier: MIT

/** snapshotSave, snapshotLoad, snapshotSaveMem, snapshotLoadMem (and maillimit_buffer_free):
 * the whole state survives a round trip; bad snapshots change nothing. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{Flag, FormatException, IOException, Level, Library, Limiter, NotFoundException,
    Status, Window};

const MAGIC = "\x89MLSNAP\n"; // docs/snapshot-format.md

function snapshot_fixture(): array
{
    $ml = fixture();
    $ml->limitSet(Level::DOMAIN, 'acme.example', Level::MAILBOX, Window::HOUR, 3);
    $ml->limitSet(Level::SUBSCRIPTION, 'acme', Level::SUBSCRIPTION, Window::DAY, 100);
    $ml->flagSet(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL, 0);
    $ml->mailboxAdd('news@acme.example');
    $ml->flagSet(Level::MAILBOX, 'news@acme.example', Flag::EXEMPT, 1);
    foreach ([0, 60, 120, 180] as $t) {
        $ml->decide(Level::MAILBOX, CEO, 1, T0 + $t);
    }
    $ml->decide(Level::MAILBOX, 'implicit@acme.example', 2, T0 + 200);
    $ml->enabledSet(false);
    $r = $ml->reserve(Level::MAILBOX, 'implicit@acme.example', 1, T0 + 240);
    return [$ml, $r->token];
}

function same_state(Limiter $a, Limiter $b, int $now): void
{
    foreach ([[Level::MAILBOX, CEO], [Level::MAILBOX, 'implicit@acme.example'],
              [Level::DOMAIN, 'acme.example'], [Level::SUBSCRIPTION, 'acme'],
              [Level::SERVER, null]] as [$level, $name]) {
        foreach ([Window::HOUR, Window::DAY] as $w) {
            eq($b->status($level, $name, $w, $now), $a->status($level, $name, $w, $now),
                "$name {$w->name}");
        }
    }
    eq($b->enabledGet(), $a->enabledGet());
    eq($b->flagConfigured(Level::SUBSCRIPTION, 'acme', Flag::SENDMAIL), 0);
    eq($b->flagEffective(Level::MAILBOX, 'news@acme.example', Flag::EXEMPT), true);
    eq($b->limitConfigured(Level::SUBSCRIPTION, 'acme', Level::SUBSCRIPTION, Window::DAY), 100);
    $a->enabledSet(true);
    $b->enabledSet(true);
    eq($b->decide(Level::MAILBOX, CEO, 1, $now), $a->decide(Level::MAILBOX, CEO, 1, $now));
}

/* The library under test has snapshots: a library without them is a failure, not a skip. */
function skip_without_snapshots(): bool
{
    if (!Library::has('maillimit_snapshot_save')) {
        throw new RuntimeException('the loaded library has no maillimit_snapshot_save');
    }
    return false;
}

test('snapshot: round trip in memory', function (): void {
    if (skip_without_snapshots()) {
        return;
    }
    [$ml] = snapshot_fixture();
    $data = $ml->snapshotSaveMem();
    eq(substr($data, 0, 8), MAGIC);
    $fresh = new Limiter();
    $fresh->snapshotLoadMem($data);
    eq($fresh->status(Level::MAILBOX, CEO, Window::HOUR, T0 + 300),
        new Status(true, null, 3, 3, 0, 0, HOUR + 120 - 300));
    same_state($ml, $fresh, T0 + 300);
});

test('snapshot: round trip through a file', function (): void {
    if (skip_without_snapshots()) {
        return;
    }
    [$ml] = snapshot_fixture();
    $dir = sys_get_temp_dir() . '/ml-snap-' . getmypid();
    mkdir($dir);
    $path = "$dir/state.snap";
    try {
        $ml->snapshotSave($path);
        eq(fileperms($path) & 0777, 0600);
        eq(file_get_contents($path), $ml->snapshotSaveMem());
        $fresh = new Limiter();
        $fresh->snapshotLoad($path);
        eq(array_values(array_diff(scandir($dir), ['.', '..'])), ['state.snap']);
    } finally {
        @unlink($path);
        rmdir($dir);
    }
    same_state($ml, $fresh, T0 + 300);
});

test('snapshot: a load forgets outstanding tokens', function (): void {
    if (skip_without_snapshots()) {
        return;
    }
    [$ml, $token] = snapshot_fixture();
    $fresh = new Limiter();
    $fresh->snapshotLoadMem($ml->snapshotSaveMem());
    throws(NotFoundException::class, -3, fn() => $fresh->commit($token));
    eq($fresh->status(Level::MAILBOX, 'implicit@acme.example', Window::HOUR, T0 + 300)->count, 3);
});

test('snapshot: bad snapshots change nothing', function (): void {
    if (skip_without_snapshots()) {
        return;
    }
    [$ml] = snapshot_fixture();
    $data = $ml->snapshotSaveMem();
    $fresh = new Limiter();
    $fresh->subscriptionAdd('keep');
    $flipped = substr($data, 0, -1) . chr(ord($data[strlen($data) - 1]) ^ 1);
    foreach (['', substr($data, 0, 8), substr($data, 0, -1), $flipped,
              'not a snapshot at all, just text'] as $bad) {
        $e = throws(FormatException::class, -7, fn() => $fresh->snapshotLoadMem($bad));
        ok(str_starts_with($e->getDetail(), '<memory>: '), (string)$e->getDetail());
    }
    eq($fresh->limitEffective(Level::SUBSCRIPTION, 'keep'), Limiter::UNLIMITED);
    throws(NotFoundException::class, -3,
        fn() => $fresh->limitEffective(Level::SUBSCRIPTION, 'acme'));
});

test('snapshot: file errors', function (): void {
    if (skip_without_snapshots()) {
        return;
    }
    $ml = new Limiter();
    $missing = sys_get_temp_dir() . '/ml-missing-' . getmypid() . '.snap';
    $e = throws(NotFoundException::class, -3, fn() => $ml->snapshotLoad($missing));
    ok(str_starts_with($e->getDetail(), "$missing: "), (string)$e->getDetail());
    $bad = '/nonexistent/dir/x.snap';
    $e = throws(IOException::class, -6, fn() => $ml->snapshotSave($bad));
    ok(str_starts_with($e->getDetail(), "$bad: "), (string)$e->getDetail());
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

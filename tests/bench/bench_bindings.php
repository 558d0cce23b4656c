<?php
// SPDX-License-Identifier: MIT

/**
 * bench_bindings (PHP part): decide() calls per second through the FFI binding.
 *
 * Same workload as bench_bindings.c (see there). Two figures:
 *   Limiter::decide  the binding as a panel uses it (argument checks, verdict_init, decide,
 *                    the Verdict object);
 *   raw FFI          maillimit_verdict_init + maillimit_decide through FFI with a prebuilt
 *                    verdict: the floor FFI itself costs.
 *
 *   MAILLIMIT_LIBRARY=build/libmaillimit/libmaillimit.so \
 *       php -d ffi.enable=1 -d opcache.enable_cli=1 tests/bench/bench_bindings.php [CALLS]
 */

declare(strict_types=1);

require getenv('MAILLIMIT_PHP_AUTOLOAD') ?: __DIR__ . '/../../bindings/php/autoload.php';

use Maillimit\{Level, Library, Limiter};

const MAILBOXES = 100;
const START = 1704103200;

function report(string $what, int $calls, float $seconds): void
{
    printf("PHP     %-25s %9d calls %7.3f s %12.0f calls/s %8.1f ns/call\n", $what, $calls,
        $seconds, $calls / $seconds, $seconds / $calls * 1e9);
}

$calls = (int)($argv[1] ?? 1000000);
$ml = new Limiter();
$ml->subscriptionAdd('bench');
$ml->domainAdd('bench.example', 'bench');
$names = [];
for ($i = 0; $i < MAILBOXES; $i++) {
    $names[] = "user$i@bench.example";
    $ml->mailboxAdd($names[$i]);
}

$t0 = hrtime(true);
$allowed = 0;
for ($i = 0; $i < $calls; $i++) {
    $now = START + intdiv($i, 1000);
    if ($ml->decide(Level::MAILBOX, $names[$i % MAILBOXES], 1, $now)->allowed()) {
        $allowed++;
    }
}
report('Limiter::decide', $calls, (hrtime(true) - $t0) / 1e9);
if ($allowed !== $calls) {
    fwrite(STDERR, "bench_bindings.php: $allowed of $calls allowed\n");
    exit(1);
}

// The raw floor: the same C calls straight through FFI, with the handle taken from the
// Limiter (a private property: read it by reflection, which a panel would never do).
$ffi = Library::ffi();
$h = (new ReflectionProperty(Limiter::class, 'h'))->getValue($ml);
$v = $ffi->new('maillimit_verdict');
$pv = FFI::addr($v);
$t0 = hrtime(true);
for ($i = 0; $i < $calls; $i++) {
    $ffi->maillimit_verdict_init($pv);
    $now = START + intdiv($i, 1000);
    if ($ffi->maillimit_decide($h, 4, $names[$i % MAILBOXES], 1, $now, $pv) !== 0) {
        exit(1);
    }
}
report('raw FFI', $calls, (hrtime(true) - $t0) / 1e9);
$ml->close();

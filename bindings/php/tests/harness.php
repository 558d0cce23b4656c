<?php
// SPDX-License-Identifier: MIT

/**
 * A minimal test harness (no PHPUnit needed): test('name', fn) registers, run_tests() runs
 * every registered test and returns the exit status (0 when all passed).
 *
 *   php -d ffi.enable=1 bindings/php/tests/run.php          # every test file
 *   php -d ffi.enable=1 bindings/php/tests/test_decide.php  # one file
 *
 * Needs MAILLIMIT_LIBRARY (or an installed library); MAILLIMIT_FFI_HEADER optional.
 */

declare(strict_types=1);

require_once __DIR__ . '/../autoload.php';

use Maillimit\Limiter;
use Maillimit\MaillimitException;

const T0 = 1704103200; // 2024-01-01 10:00:00 UTC: a whole minute and hour
const HOUR = 3600;
const DAY = 86400;
const CEO = 'ceo@acme.example';
const DECIDED = PHP_INT_MIN; // token of every decide() verdict: bit 63 set, negative in PHP

final class TestFailure extends \Exception
{
}

/** @var array<string, callable> */
$GLOBALS['ml_tests'] = $GLOBALS['ml_tests'] ?? [];

function test(string $name, callable $fn): void
{
    $GLOBALS['ml_tests'][$name] = $fn;
}

function show(mixed $v): string
{
    return var_export($v, true);
}

function eq(mixed $got, mixed $want, string $what = ''): void
{
    if (show($got) !== show($want)) {
        throw new TestFailure(($what !== '' ? "$what: " : '') . "got\n" . show($got)
            . "\nwant\n" . show($want));
    }
}

function ok(bool $cond, string $what = 'condition'): void
{
    if (!$cond) {
        throw new TestFailure("$what is false");
    }
}

/** Assert that $fn throws $class with code $code; returns the exception. */
function throws(string $class, ?int $code, callable $fn): \Throwable
{
    try {
        $fn();
    } catch (\Throwable $e) {
        if (!($e instanceof $class)) {
            throw new TestFailure("expected $class, got " . get_class($e) . ': '
                . $e->getMessage());
        }
        if ($code !== null && $e->getCode() !== $code) {
            throw new TestFailure("expected code $code, got {$e->getCode()}: {$e->getMessage()}");
        }
        if ($code !== null && !($e instanceof MaillimitException)) {
            throw new TestFailure(get_class($e) . ' does not implement MaillimitException');
        }
        return $e;
    }
    throw new TestFailure("expected $class, nothing was thrown");
}

/** A Limiter with plan basic > subscription acme > domain acme.example > mailbox
 * ceo@acme.example, system user acme_web, and an empty subscription other. */
function fixture(): Limiter
{
    $ml = new Limiter();
    $ml->planAdd('basic');
    $ml->subscriptionAdd('acme', 'basic');
    $ml->subscriptionAdd('other');
    $ml->domainAdd('acme.example', 'acme');
    $ml->mailboxAdd('ceo@acme.example');
    $ml->sysuserAdd('acme_web', 'acme');
    return $ml;
}

/** include/maillimit.h of the source tree, or null. */
function header_path(): ?string
{
    $env = getenv('MAILLIMIT_HEADER');
    $p = ($env !== false && $env !== '') ? $env : dirname(__DIR__, 3) . '/include/maillimit.h';
    return is_file($p) ? $p : null;
}

function run_tests(): int
{
    $failed = [];
    $n = 0;
    foreach ($GLOBALS['ml_tests'] as $name => $fn) {
        $n++;
        try {
            $fn();
            echo "ok   $name\n";
        } catch (\Throwable $e) {
            $failed[] = $name;
            echo "FAIL $name\n     " . str_replace("\n", "\n     ", get_class($e) . ': '
                . $e->getMessage()) . "\n     at " . $e->getFile() . ':' . $e->getLine() . "\n";
        }
        gc_collect_cycles();
    }
    echo sprintf("php binding: %d tests, %d passed, %d failed\n", $n, $n - count($failed),
        count($failed));
    return $failed ? 1 : 0;
}

function is_main(string $file): bool
{
    return realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === realpath($file);
}

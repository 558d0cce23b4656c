<?php
// SPDX-License-Identifier: MIT

/**
 * Limiter and Client pass the same tests (test_contract.php), and the Client's own tests
 * (test_client.php) run against a maillimitd each test starts. Needs MAILLIMITD,
 * MAILLIMIT_LIBRARY (for Limiter) and the msgpack extension.
 *
 *   MAILLIMITD=build/examples/maillimitd/maillimitd \
 *   MAILLIMIT_LIBRARY=build/libmaillimit/libmaillimit.so php -d ffi.enable=1 run.php
 */

declare(strict_types=1);

require_once __DIR__ . '/../tests/harness.php';
require_once __DIR__ . '/daemon.php';

if (!function_exists('msgpack_pack')) {
    fwrite(STDERR, "php_remote cannot run: no msgpack extension (apt-get install php-msgpack)\n");
    exit(1);
}
foreach (glob(__DIR__ . '/test_*.php') as $file) {
    require_once $file;
}
exit(run_tests());

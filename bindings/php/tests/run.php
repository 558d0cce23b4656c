<?php
// SPDX-License-Identifier: MIT

/** Run every test_*.php of this directory in one process; exit 1 if any failed. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

foreach (glob(__DIR__ . '/test_*.php') as $file) {
    require_once $file;
}
exit(run_tests());

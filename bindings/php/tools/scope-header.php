<?php
// SPDX-License-Identifier: MIT

/**
 * Print the header for PHP's `ffi.preload`, so that libmaillimit is declared once at PHP
 * start-up as the FFI scope "MAILLIMIT". Needed under PHP-FPM and the other non-CLI SAPIs,
 * where the default `ffi.enable=preload` forbids FFI::cdef() at run time:
 *
 *   php -d ffi.enable=1 bindings/php/tools/scope-header.php > /etc/php/8.2/maillimit-ffi.h
 *
 *   ; php.ini (or a conf.d file) of the FPM pool
 *   ffi.enable=preload
 *   ffi.preload=/etc/php/8.2/maillimit-ffi.h
 *
 * The library and its declarations are found as at run time (MAILLIMIT_LIBRARY,
 * MAILLIMIT_FFI_HEADER, MAILLIMIT_HEADER, pkg-config, the system paths); FFI_LIB is the path
 * that loaded. Regenerate it when libmaillimit is upgraded.
 */

declare(strict_types=1);

require_once __DIR__ . '/../autoload.php';

echo Maillimit\Library::scopeHeader();

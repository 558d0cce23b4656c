<?php
// SPDX-License-Identifier: MIT

/**
 * Autoloader for use without Composer: `require 'bindings/php/autoload.php';`
 * (Composer users get the same mapping from composer.json: Maillimit\ => src/).
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'Maillimit\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

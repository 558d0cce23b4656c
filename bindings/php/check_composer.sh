#!/bin/bash
# SPDX-License-Identifier: MIT
# The PHP binding installs into a panel's project through a Composer path repository, offline
# (Debian's composer; packagist disabled), and its autoloader gives Limiter and Client.
#
#   check_composer.sh PHP BINDING_DIR LIBRARY FFI_HEADER
set -eu
PHP=${1:?usage: check_composer.sh PHP BINDING_DIR LIBRARY FFI_HEADER}
SRC=${2:?}
LIB=${3:?}
HDR=${4:?}
command -v composer >/dev/null || { echo "FAIL (cannot run): needs composer (apt-get install composer)"; exit 1; }
T=$(mktemp -d /tmp/maillimit-composer.XXXXXX)
trap 'rm -rf "$T"' EXIT
cat > "$T/composer.json" <<JSON
{
    "name": "example/panel",
    "repositories": [
        {"packagist.org": false},
        {"type": "path", "url": "$SRC", "options": {"symlink": false}}
    ],
    "require": {"maillimit/maillimit": "*@dev"}
}
JSON
cd "$T"
COMPOSER_HOME="$T/.composer" COMPOSER_ALLOW_SUPERUSER=1 \
    "$PHP" "$(command -v composer)" install --no-interaction --no-progress --quiet
[ -f vendor/maillimit/maillimit/src/Client.php ] || { echo "FAIL: not installed"; exit 1; }
MAILLIMIT_LIBRARY=$LIB MAILLIMIT_FFI_HEADER=$HDR "$PHP" -d ffi.enable=1 -r '
require "vendor/autoload.php";
$ml = new Maillimit\Limiter();
$ml->subscriptionAdd("acme");
if ($ml->list(Maillimit\Level::SUBSCRIPTION)[0]->name !== "acme") { exit(1); }
if (!(new ReflectionClass("Maillimit\\Client"))->implementsInterface("Maillimit\\MaillimitApi")) { exit(1); }
echo "composer install: Maillimit\\Limiter and Maillimit\\Client from ", dirname((new ReflectionClass("Maillimit\\Client"))->getFileName()), "\n";
'

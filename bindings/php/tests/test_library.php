<?php
// SPDX-License-Identifier: MIT

/** Library: strerror, version_number, version_string, loading, the cdef, the enums against
 * the header, and the Limiter's lifecycle (new/free) in any destruction order. */

declare(strict_types=1);

require_once __DIR__ . '/harness.php';

use Maillimit\{Decision, ErrorCode, EventType, Flag, InvalidArgumentException, Level, Library,
    Limiter, MaillimitException, Metric, Reason, Unit, Window};

/** Run PHP code in a child process with extra environment; returns [exit code, output]. */
function run_php(string $code, array $env = []): array
{
    $cmd = [PHP_BINARY, '-d', 'ffi.enable=1', '-r', $code];
    $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes, null,
        array_merge(getenv(), $env));
    $out = stream_get_contents($pipes[1]);
    fclose($pipes[1]);
    return [proc_close($proc), $out];
}

const AUTOLOAD = __DIR__ . '/../autoload.php';

test('library: version number and string agree', function (): void {
    $n = Library::versionNumber();
    eq(intdiv($n, 10000), Library::HEADER_VERSION_MAJOR);
    eq(Library::versionString(), sprintf('%d.%d.%d', intdiv($n, 10000), intdiv($n, 100) % 100,
        $n % 100));
});

test('library: strerror of every code', function (): void {
    $want = [0 => 'success', -1 => 'invalid argument', -2 => 'out of memory',
        -3 => 'not found', -4 => 'already exists elsewhere', -5 => 'value out of range',
        -6 => 'input/output error', -7 => 'malformed input', -8 => 'buffer too small',
        -9 => 'no more items', -10 => 'resource busy', -11 => 'unsupported version'];
    foreach ($want as $code => $text) {
        eq(Library::strerror($code), $text, "code $code");
    }
    eq(Library::strerror(-12), 'unknown error');
    eq(Library::strerror(1 << 40), 'unknown error');
});

test('library: errname of every code', function (): void {
    $names = ['OK', 'EINVAL', 'ENOMEM', 'ENOTFOUND', 'EEXISTS', 'ERANGE', 'EIO', 'EFORMAT',
        'ENOBUFS', 'EDONE', 'EBUSY', 'EVERSION'];
    foreach ($names as $i => $name) {
        eq(Library::errname(-$i), 'MAILLIMIT_' . $name, "code -$i");
    }
    eq(Library::errname(-12), 'MAILLIMIT_E?');
    eq(Library::errname(1 << 40), 'MAILLIMIT_E?');
});

test('library: the path loaded is MAILLIMIT_LIBRARY', function (): void {
    $env = getenv('MAILLIMIT_LIBRARY');
    if ($env !== false && $env !== '') {
        eq(Library::path(), $env);
    }
});

test('library: a missing library is LibraryNotFoundException', function (): void {
    [$rc, $out] = run_php('require "' . AUTOLOAD . '"; try { new Maillimit\Limiter(); } '
        . 'catch (Maillimit\LibraryNotFoundException $e) { echo $e->getMessage(); exit(3); }',
        ['MAILLIMIT_LIBRARY' => '/nonexistent/libmaillimit.so']);
    eq($rc, 3, $out);
    ok(str_starts_with($out, 'libmaillimit not found; set MAILLIMIT_LIBRARY'), $out);
    ok(str_contains($out, '/nonexistent/libmaillimit.so (MAILLIMIT_LIBRARY)'), $out);
    [$rc, $out] = run_php('require "' . AUTOLOAD . '"; try { new Maillimit\Limiter(); } '
        . 'catch (Maillimit\LibraryNotFoundException $e) { echo $e->getMessage(); exit(3); }',
        ['MAILLIMIT_LIBRARY' => 'libc.so.6']);
    eq($rc, 3, $out);
    ok(str_contains($out, "Failed resolving C function 'maillimit_"), $out);
});

test('library: ffi.preload with the scope header (PHP-FPM)', function (): void {
    $file = tempnam(sys_get_temp_dir(), 'ml-scope');
    file_put_contents($file, Library::scopeHeader());
    $code = 'require "' . AUTOLOAD . '"; $ml = new Maillimit\Limiter(); $ml->subscriptionAdd("s");'
        . ' echo Maillimit\Library::path(), " ", $ml->decide(Maillimit\Level::SUBSCRIPTION,'
        . ' "s", 1, 1704103200)->count, "\n";';
    // ffi.enable=preload forbids FFI::cdef() outside the CLI; the scope works everywhere.
    $cmd = [PHP_BINARY, '-d', 'ffi.enable=preload', '-d', "ffi.preload=$file", '-r', $code];
    $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes, null,
        array_merge(getenv(), ['MAILLIMIT_LIBRARY' => '/nonexistent/libmaillimit.so']));
    $out = stream_get_contents($pipes[1]);
    fclose($pipes[1]);
    $rc = proc_close($proc);
    unlink($file);
    eq([$rc, $out], [0, "FFI scope MAILLIMIT 0\n"]);
});

test('library: another major version is refused', function (): void {
    $e = throws(Maillimit\LibraryNotFoundException::class, null,
        fn() => Library::checkVersion(10000 * (Library::HEADER_VERSION_MAJOR + 1), 'libx.so'));
    ok(str_contains($e->getMessage(), 'this binding needs major version'), $e->getMessage());
    Library::checkVersion(Library::versionNumber(), 'libx.so');
});

test('library: the PHP preprocessor handles what a header may use', function (): void {
    $h = <<<'H'
    #ifndef G
    #define G
    #include <stdint.h>
    #define N 4 /* a comment */
    #define EMPTY
    #ifdef __cplusplus
    extern "C" {
    #endif
    #if defined(_WIN32)
    int win;
    #elif defined(__GNUC__) && __GNUC__ >= 4
    int gnu;
    #elif !defined(NOPE) && (N > 3 || 0)
    int portable; // kept
    #else
    int other;
    #endif
    EMPTY int a[N];
    MAILLIMIT_API int f(void);
    #ifdef __cplusplus
    }
    #endif
    #endif
    H;
    eq(Library::preprocess($h), "int portable;\n int a[4];\n int f(void);\n");
    // Core headers of include/maillimit/ are read (once, through their guard).
    $dir = sys_get_temp_dir() . '/ml-pp-' . getmypid();
    @mkdir("$dir/maillimit", 0777, true);
    file_put_contents("$dir/maillimit/extra.h",
        "#ifndef X_H\n#define X_H\n#include <stdint.h>\nint extra(int64_t v);\n#endif\n");
    eq(Library::preprocess("#include <maillimit/extra.h>\n#include \"maillimit/extra.h\"\n"
        . "int main_one;\n", $dir), "int extra(int64_t v);\nint main_one;\n");
    unlink("$dir/maillimit/extra.h");
    rmdir("$dir/maillimit");
    rmdir($dir);
    throws(Maillimit\LibraryNotFoundException::class, null,
        fn() => Library::preprocess("#define F(x) x\n"));
    throws(Maillimit\LibraryNotFoundException::class, null, fn() => Library::preprocess("#if 1\n"));
});

/** Tokens of a cdef, whitespace-insensitive. */
function cdef_tokens(string $text): array
{
    $text = (string)preg_replace('#/\*.*?\*/#s', ' ', $text);
    preg_match_all('/"[^"]*"|\w+|[^\s\w]/', $text, $m);
    return $m[0];
}

test('library: the runtime cdef equals the build-time one', function (): void {
    $h = header_path();
    $gen = getenv('MAILLIMIT_FFI_HEADER');
    if ($h === null || $gen === false || $gen === '') {
        throw new RuntimeException('needs MAILLIMIT_FFI_HEADER and the source header (ctest sets both)');
    }
    eq(cdef_tokens(Library::preprocess((string)file_get_contents($h))),
        cdef_tokens((string)file_get_contents($gen)));
    // And the runtime text loads: every function resolves in the library.
    FFI::cdef(Library::preprocess((string)file_get_contents($h)), Library::path());
});

test('library: enums and constants equal the header', function (): void {
    $h = header_path();
    if ($h === null) {
        throw new RuntimeException('include/maillimit.h not found');
    }
    $text = preg_replace('#/\*.*?\*/#s', ' ', (string)file_get_contents($h));
    preg_match_all('/\b(MAILLIMIT_[A-Z0-9_]+)\s*=\s*(-?\d+)/', $text, $m, PREG_SET_ORDER);
    $values = [];
    foreach ($m as [, $name, $v]) {
        $values[$name] = (int)$v;
    }
    $groups = ['MAILLIMIT_LEVEL_' => Level::class, 'MAILLIMIT_WINDOW_' => Window::class,
        'MAILLIMIT_REASON_' => Reason::class, 'MAILLIMIT_FLAG_' => Flag::class,
        'MAILLIMIT_UNIT_' => Unit::class, 'MAILLIMIT_METRIC_' => Metric::class,
        'MAILLIMIT_EVENT_' => EventType::class];
    foreach ($groups as $prefix => $enum) {
        $want = [];
        foreach ($values as $name => $v) {
            if (str_starts_with($name, $prefix) && !str_ends_with($name, '_VERSION')) {
                $want[substr($name, strlen($prefix))] = $v;
            }
        }
        $got = [];
        foreach ($enum::cases() as $c) {
            $got[$c->name] = $c->value;
        }
        eq($got, $want, $prefix);
    }
    $errors = [];
    foreach ($values as $name => $v) {
        if (preg_match('/^MAILLIMIT_(OK|E[A-Z]+)$/', $name, $mm)) {
            $errors[$mm[1]] = $v;
        }
    }
    $got = [];
    foreach (ErrorCode::cases() as $c) {
        $got[$c->name] = $c->value;
    }
    eq($got, $errors, 'error codes');
    eq([Decision::ALLOW->value, Decision::DENY->value],
        [$values['MAILLIMIT_ALLOW'], $values['MAILLIMIT_DENY']]);
    eq([Limiter::UNLIMITED, Limiter::DEFAULT, Limiter::COST_MAX, Limiter::NAME_MAX],
        [$values['MAILLIMIT_UNLIMITED'], $values['MAILLIMIT_DEFAULT'],
         $values['MAILLIMIT_COST_MAX'], $values['MAILLIMIT_NAME_MAX']]);
    eq(Library::HEADER_VERSION_MAJOR, $values['MAILLIMIT_HEADER_VERSION_MAJOR']);
    eq(Library::HEADER_VERSION_NUMBER, $values['MAILLIMIT_HEADER_VERSION_NUMBER']);
    eq([Limiter::LIST_SYSUSER, Limiter::ENTITY_VERSION, Limiter::REQUEST_VERSION],
        [$values['MAILLIMIT_LIST_SYSUSER'], $values['MAILLIMIT_ENTITY_VERSION'],
         $values['MAILLIMIT_REQUEST_VERSION']]);
});

test('exceptions: one class per code, with SPL parents', function (): void {
    $want = [-1 => [Maillimit\InvalidArgumentException::class, \InvalidArgumentException::class],
        -2 => [Maillimit\OutOfMemoryException::class, \RuntimeException::class],
        -3 => [Maillimit\NotFoundException::class, \OutOfBoundsException::class],
        -4 => [Maillimit\ExistsException::class, \RuntimeException::class],
        -5 => [Maillimit\RangeException::class, \RangeException::class],
        -6 => [Maillimit\IOException::class, \RuntimeException::class],
        -7 => [Maillimit\FormatException::class, \UnexpectedValueException::class],
        -8 => [Maillimit\BufferTooSmallException::class, \LengthException::class],
        -9 => [Maillimit\DoneException::class, \RuntimeException::class],
        -10 => [Maillimit\BusyException::class, \RuntimeException::class],
        -11 => [Maillimit\VersionException::class, \RuntimeException::class],
        -99 => [Maillimit\LibraryException::class, \RuntimeException::class]];
    foreach ($want as $code => [$class, $spl]) {
        $e = throws($class, $code, fn() => Library::raise($code, 'maillimit_x', 'a', 'b'));
        ok($e instanceof $spl && $e instanceof MaillimitException, "$class parents");
        eq($e->getMessage(), 'maillimit_x(a): ' . Library::strerror($code) . ': b');
        eq($e->getErrorCode(), ErrorCode::tryFrom($code));
    }
});

test('lifecycle: close is idempotent and later calls throw', function (): void {
    $ml = new Limiter();
    $ml->planAdd('p');
    ok(!$ml->isClosed(), 'open');
    $ml->close();
    $ml->close();
    ok($ml->isClosed(), 'closed');
    foreach ([fn() => $ml->planAdd('p'), fn() => $ml->decide(Level::MAILBOX, 'a@b.c'),
              fn() => $ml->status(Level::SERVER, null), fn() => $ml->enabledGet(),
              fn() => $ml->configLoadMem("enable yes\n")] as $call) {
        $e = throws(InvalidArgumentException::class, -1, $call);
        eq($e->getDetail(), 'the limiter is closed');
    }
});

test('lifecycle: many handles are freed', function (): void {
    for ($i = 0; $i < 200; $i++) {
        $ml = new Limiter();
        $ml->subscriptionAdd('s');
    }
    unset($ml);
});

test('lifecycle: shutdown in any destruction order is clean', function (): void {
    $code = 'require "' . AUTOLOAD . '"; use Maillimit\{Limiter, Level};
        $GLOBALS["keep"] = new Limiter();
        $GLOBALS["keep"]->subscriptionAdd("s");
        $GLOBALS["keep"]->decide(Level::SUBSCRIPTION, "s", 1, 1704103200);
        $GLOBALS["it"] = $GLOBALS["keep"]->historyOpen(Level::SUBSCRIPTION, "s", 1704103200,
            1704106800, 1704103201);
        $c = new stdClass(); $c->self = $c; $c->ml = new Limiter(); unset($c);
        $closed = new Limiter(); $closed->close();
        final class Late { public Limiter $ml; function __construct() { $this->ml = new Limiter(); }
            function __destruct() { $this->ml->close(); } }
        $GLOBALS["late"] = new Late();
        $GLOBALS["late2"] = $GLOBALS["late"];
        echo "done\n";';
    [$rc, $out] = run_php($code);
    eq([$rc, $out], [0, "done\n"]);
    // exit() in the middle, with an open iterator that references its limiter's FFI.
    [$rc, $out] = run_php('require "' . AUTOLOAD . '"; use Maillimit\{Limiter, Level};
        $ml = new Limiter(); $ml->subscriptionAdd("s");
        $it = $ml->episodesOpen(Level::SERVER, null, 0, 1704106800, 1704103201);
        echo "exit\n"; exit(0);');
    eq([$rc, $out], [0, "exit\n"]);
});

if (is_main(__FILE__)) {
    exit(run_tests());
}

<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

use FFI;

/**
 * Loads libmaillimit through FFI (one instance per process) and answers the pure calls
 * (version, error texts).
 *
 * The shared library is found, first match wins, through the MAILLIMIT_LIBRARY environment
 * variable, `pkg-config --variable=libdir maillimit`, then the dynamic loader's search path
 * (libmaillimit.so.1).
 *
 * FFI::cdef() needs the header as plain declarations. It comes from MAILLIMIT_FFI_HEADER (a
 * header already run through `cc -E -P`, as the build generates it), or else from
 * maillimit.h itself, preprocessed here: MAILLIMIT_HEADER, pkg-config's includedir,
 * /usr/local/include, /usr/include, then the source tree this binding sits in.
 *
 * The library's major version must be the one this binding was written for.
 */
final class Library
{
    /** The header version this binding was written against. */
    public const HEADER_VERSION_MAJOR = 1;
    public const HEADER_VERSION_NUMBER = 10000;
    public const SONAME = 'libmaillimit.so.1';

    private static ?FFI $ffi = null;
    private static ?string $path = null;
    private static ?string $cdefText = null;

    /** The FFI scope name of the ffi.preload header (tools/scope-header.php). */
    public const SCOPE = 'MAILLIMIT';

    /**
     * The FFI instance (loaded on first use): the scope "MAILLIMIT" when `ffi.preload`
     * declared it (the only way under `ffi.enable=preload` outside the CLI; see
     * tools/scope-header.php), else FFI::cdef().
     */
    public static function ffi(): FFI
    {
        if (self::$ffi === null) {
            try {
                $ffi = FFI::scope(self::SCOPE);
                self::check($ffi, 'FFI scope ' . self::SCOPE);
                self::$ffi = $ffi;
                self::$path = 'FFI scope ' . self::SCOPE;
            } catch (\FFI\Exception) {
                self::load();
            }
        }
        return self::$ffi;
    }

    /**
     * The header for `ffi.preload` (see tools/scope-header.php): the declarations with
     * FFI_SCOPE "MAILLIMIT" and FFI_LIB set to the library this process loads.
     */
    public static function scopeHeader(): string
    {
        $cdef = self::cdef();
        $path = self::path();
        if (str_starts_with($path, 'FFI scope')) {
            throw new LibraryNotFoundException('scopeHeader(): run it without ffi.preload');
        }
        // PHP reads FFI_SCOPE and FFI_LIB only as the very first lines.
        return '#define FFI_SCOPE "' . self::SCOPE . "\"\n"
            . '#define FFI_LIB "' . addcslashes($path, "\"\\") . "\"\n"
            . "/* libmaillimit for ffi.preload: made by bindings/php/tools/scope-header.php */\n"
            . $cdef;
    }

    /**
     * Whether the declarations in use name the C function $name (a library older than
     * this binding lacks the newest functions; calling one throws).
     */
    public static function has(string $name): bool
    {
        self::ffi();
        if (self::$cdefText === null) { // declared by ffi.preload: read them again
            try {
                self::$cdefText = self::cdef();
            } catch (LibraryNotFoundException) {
                return false;
            }
        }
        return (bool)preg_match('/\b' . preg_quote($name, '/') . '\s*\(/', self::$cdefText);
    }

    /** The path or soname the library was loaded from. */
    public static function path(): string
    {
        self::ffi();
        return self::$path;
    }

    /** maillimit_version_number(): major*10000 + minor*100 + patch. */
    public static function versionNumber(): int
    {
        return self::ffi()->maillimit_version_number();
    }

    /** maillimit_version_string(): "major.minor.patch". */
    public static function versionString(): string
    {
        return self::ffi()->maillimit_version_string();
    }

    /** maillimit_errname(): the name of an error code ("MAILLIMIT_ENOTFOUND"). */
    public static function errname(int $code): string
    {
        if ($code < -2147483648 || $code > 2147483647) {
            $code = -2147483648; // "MAILLIMIT_E?", rather than a truncated code
        }
        return self::ffi()->maillimit_errname($code);
    }

    /** maillimit_strerror(): the library's static text for an error code. */
    public static function strerror(int $code): string
    {
        if ($code < -2147483648 || $code > 2147483647) {
            $code = -2147483648; // "unknown error", rather than a truncated code
        }
        return self::ffi()->maillimit_strerror($code);
    }

    /** Throw the exception of a negative library code. */
    public static function raise(int $rc, string $function, ?string $context = null,
                                 ?string $detail = null): never
    {
        $class = self::exceptionClass($rc);
        throw new $class($rc, self::strerror($rc), $function, $context, $detail);
    }

    /**
     * The exception class of a negative library code (LibraryException if unknown).
     * @return class-string<MaillimitException>
     */
    public static function exceptionClass(int $rc): string
    {
        return match ($rc) {
            ErrorCode::EINVAL->value => InvalidArgumentException::class,
            ErrorCode::ENOMEM->value => OutOfMemoryException::class,
            ErrorCode::ENOTFOUND->value => NotFoundException::class,
            ErrorCode::EEXISTS->value => ExistsException::class,
            ErrorCode::ERANGE->value => RangeException::class,
            ErrorCode::EIO->value => IOException::class,
            ErrorCode::EFORMAT->value => FormatException::class,
            ErrorCode::ENOBUFS->value => BufferTooSmallException::class,
            ErrorCode::EDONE->value => DoneException::class,
            ErrorCode::EBUSY->value => BusyException::class,
            ErrorCode::EVERSION->value => VersionException::class,
            default => LibraryException::class,
        };
    }

    /** The cdef text FFI parses: the generated header, or maillimit.h preprocessed here. */
    public static function cdef(): string
    {
        $ready = getenv('MAILLIMIT_FFI_HEADER');
        if ($ready !== false && $ready !== '') {
            $text = @file_get_contents($ready);
            if ($text === false) {
                throw new LibraryNotFoundException("MAILLIMIT_FFI_HEADER: cannot read $ready");
            }
            return $text;
        }
        foreach (self::headerCandidates() as $h) {
            if (is_file($h)) {
                return self::preprocess((string)file_get_contents($h), dirname($h));
            }
        }
        throw new LibraryNotFoundException('maillimit.h not found: set MAILLIMIT_FFI_HEADER '
            . '(a header preprocessed with `cc -E -P`) or MAILLIMIT_HEADER');
    }

    /** @return list<string> */
    private static function headerCandidates(): array
    {
        $out = [];
        $env = getenv('MAILLIMIT_HEADER');
        if ($env !== false && $env !== '') {
            return [$env];
        }
        $inc = self::pkgConfig('includedir');
        if ($inc !== null) {
            $out[] = "$inc/maillimit.h";
        }
        $out[] = '/usr/local/include/maillimit.h';
        $out[] = '/usr/include/maillimit.h';
        $out[] = dirname(__DIR__, 3) . '/include/maillimit.h';
        return $out;
    }

    private static function pkgConfig(string $variable): ?string
    {
        $which = @shell_exec('command -v pkg-config 2>/dev/null');
        if (!is_string($which) || trim($which) === '') {
            return null;
        }
        $out = @shell_exec('pkg-config --variable=' . escapeshellarg($variable)
            . ' maillimit 2>/dev/null');
        $out = is_string($out) ? trim($out) : '';
        return $out === '' ? null : $out;
    }

    private static function load(): void
    {
        $cdef = self::cdef();
        self::$cdefText = $cdef;
        $tried = [];
        foreach (self::libraryCandidates() as [$how, $what]) {
            try {
                $ffi = FFI::cdef($cdef, $what);
            } catch (\FFI\Exception $e) {
                $tried[] = "$what ($how): " . $e->getMessage();
                continue;
            }
            self::check($ffi, $what);
            self::$ffi = $ffi;
            self::$path = $what;
            return;
        }
        throw new LibraryNotFoundException('libmaillimit not found; set MAILLIMIT_LIBRARY to '
            . 'the path of libmaillimit.so, or install it where pkg-config or the dynamic '
            . 'loader finds it. Tried: ' . implode('; ', $tried));
    }

    /** @return list<array{string,string}> */
    private static function libraryCandidates(): array
    {
        $env = getenv('MAILLIMIT_LIBRARY');
        if ($env !== false && $env !== '') {
            return [['MAILLIMIT_LIBRARY', $env]];
        }
        $out = [];
        $libdir = self::pkgConfig('libdir');
        if ($libdir !== null) {
            foreach ([self::SONAME, 'libmaillimit.so'] as $n) {
                if (is_file("$libdir/$n")) {
                    $out[] = ['pkg-config', "$libdir/$n"];
                    break;
                }
            }
        }
        $out[] = ['system path', self::SONAME];
        return $out;
    }

    /** Refuse a library of another major version. */
    public static function checkVersion(int $number, string $path): void
    {
        if (intdiv($number, 10000) !== self::HEADER_VERSION_MAJOR) {
            throw new LibraryNotFoundException(sprintf(
                '%s is libmaillimit %d.%d.%d; this binding needs major version %d',
                $path, intdiv($number, 10000), intdiv($number, 100) % 100, $number % 100,
                self::HEADER_VERSION_MAJOR));
        }
    }

    private static function check(FFI $ffi, string $path): void
    {
        self::checkVersion($ffi->maillimit_version_number(), $path);
    }

    /**
     * What `cc -E -P -DMAILLIMIT_API=` does to maillimit.h, for the little the header uses:
     * comments, line continuations, #include (dropped: FFI knows the fixed-width types),
     * #define of object-like macros (expanded), #undef, and #if/#ifdef/#ifndef/#elif/#else/
     * #endif with defined(), integers, ! && || and comparisons. __cplusplus is not defined;
     * MAILLIMIT_API is defined as nothing.
     */
    public static function preprocess(string $text, ?string $includeDir = null): string
    {
        $lines = self::logicalLines($text);
        $macros = ['MAILLIMIT_API' => ''];
        $stack = []; // frames: [active, taken, parent_active]
        $active = true;
        $out = [];
        $depth = 0;
        for ($no = 0; $no < count($lines); $no++) {
            $line = $lines[$no];
            if (preg_match('/^\s*#\s*(\w+)\s*(.*)$/', $line, $m)) {
                [$dir, $rest] = [$m[1], trim($m[2])];
                switch ($dir) {
                    case 'ifdef':
                    case 'ifndef':
                    case 'if':
                        $cond = false;
                        if ($active) {
                            $cond = match ($dir) {
                                'ifdef' => array_key_exists($rest, $macros),
                                'ifndef' => !array_key_exists($rest, $macros),
                                default => self::evaluate($rest, $macros) !== 0,
                            };
                        }
                        $stack[] = [$active && $cond, $cond, $active];
                        $active = $active && $cond;
                        break;
                    case 'elif':
                    case 'else':
                        if (!$stack) {
                            throw new LibraryNotFoundException("header line " . ($no + 1)
                                . ": #$dir without #if");
                        }
                        [, $taken, $parent] = array_pop($stack);
                        $cond = !$taken && $parent
                            && ($dir === 'else' || self::evaluate($rest, $macros) !== 0);
                        $stack[] = [$cond, $taken || $cond, $parent];
                        $active = $cond;
                        break;
                    case 'endif':
                        if (!$stack) {
                            throw new LibraryNotFoundException("header line " . ($no + 1)
                                . ": #endif without #if");
                        }
                        [, , $active] = array_pop($stack);
                        break;
                    case 'define':
                        if ($active && preg_match('/^(\w+)(\(?)\s*(.*)$/', $rest, $d)) {
                            if ($d[2] === '(') {
                                throw new LibraryNotFoundException("header line " . ($no + 1)
                                    . ": function-like macro {$d[1]} (not FFI-friendly)");
                            }
                            $macros[$d[1]] = trim($d[3]);
                        }
                        break;
                    case 'undef':
                        if ($active) {
                            unset($macros[$rest]);
                        }
                        break;
                    case 'include':
                        // The library's own headers are read; standard ones are not needed
                        // (FFI knows the fixed-width types).
                        if ($active && $includeDir !== null && ++$depth < 64
                            && preg_match('#^[<"](maillimit/[\w./-]+)[>"]$#', $rest, $inc)) {
                            $file = "$includeDir/{$inc[1]}";
                            if (!is_file($file)) {
                                throw new LibraryNotFoundException("header: $file not found");
                            }
                            array_splice($lines, $no + 1, 0,
                                self::logicalLines((string)file_get_contents($file)));
                        }
                        break;
                    default: // error, pragma...: nothing for a cdef
                        break;
                }
                continue;
            }
            if ($active && trim($line) !== '') {
                $out[] = rtrim(self::expand($line, $macros));
            }
        }
        if ($stack) {
            throw new LibraryNotFoundException('header: unterminated #if');
        }
        return implode("\n", $out) . "\n";
    }

    /**
     * Lines of a header with continuations joined and comments removed (the header has no
     * comment markers inside string literals).
     * @return list<string>
     */
    private static function logicalLines(string $text): array
    {
        $text = str_replace(["\r\n", "\r"], "\n", $text);
        $text = (string)preg_replace('/\\\\\n/', '', $text);
        $text = (string)preg_replace_callback('#/\*.*?\*/#s',
            static fn(array $m): string => ' ' . str_repeat("\n", substr_count($m[0], "\n")),
            $text);
        $text = (string)preg_replace('#//[^\n]*#', '', $text);
        return explode("\n", $text);
    }

    /** @param array<string,string> $macros */
    private static function expand(string $line, array $macros): string
    {
        for ($i = 0; $i < 8; $i++) { // macros of macros, a few levels deep
            $new = preg_replace_callback('/\b[A-Za-z_]\w*\b/',
                static fn(array $m): string => $macros[$m[0]] ?? $m[0], $line);
            if ($new === $line) {
                break;
            }
            $line = $new;
        }
        return $line;
    }

    /** Evaluate a #if expression. @param array<string,string> $macros */
    private static function evaluate(string $expr, array $macros): int
    {
        $expr = preg_replace_callback('/\bdefined\s*(?:\(\s*(\w+)\s*\)|(\w+))/',
            static fn(array $m): string => array_key_exists($m[1] !== '' ? $m[1] : $m[2],
                $macros) ? '1' : '0', $expr);
        $expr = self::expand($expr, $macros);
        preg_match_all('/\d+|[A-Za-z_]\w*|&&|\|\||==|!=|<=|>=|[()!<>]/', $expr, $m);
        $tokens = $m[0];
        $pos = 0;
        $value = self::parseOr($tokens, $pos);
        if ($pos !== count($tokens)) {
            throw new LibraryNotFoundException("header: cannot evaluate #if $expr");
        }
        return $value;
    }

    /** @param list<string> $t */
    private static function parseOr(array $t, int &$p): int
    {
        $v = self::parseAnd($t, $p);
        while (($t[$p] ?? null) === '||') {
            $p++;
            $r = self::parseAnd($t, $p);
            $v = ($v || $r) ? 1 : 0;
        }
        return $v;
    }

    /** @param list<string> $t */
    private static function parseAnd(array $t, int &$p): int
    {
        $v = self::parseCmp($t, $p);
        while (($t[$p] ?? null) === '&&') {
            $p++;
            $r = self::parseCmp($t, $p);
            $v = ($v && $r) ? 1 : 0;
        }
        return $v;
    }

    /** @param list<string> $t */
    private static function parseCmp(array $t, int &$p): int
    {
        $v = self::parseUnary($t, $p);
        while (in_array($t[$p] ?? null, ['==', '!=', '<', '>', '<=', '>='], true)) {
            $op = $t[$p++];
            $r = self::parseUnary($t, $p);
            $v = (int)match ($op) {
                '==' => $v === $r, '!=' => $v !== $r, '<' => $v < $r,
                '>' => $v > $r, '<=' => $v <= $r, '>=' => $v >= $r,
            };
        }
        return $v;
    }

    /** @param list<string> $t */
    private static function parseUnary(array $t, int &$p): int
    {
        $tok = $t[$p++] ?? throw new LibraryNotFoundException('header: truncated #if');
        if ($tok === '!') {
            return self::parseUnary($t, $p) ? 0 : 1;
        }
        if ($tok === '(') {
            $v = self::parseOr($t, $p);
            if (($t[$p++] ?? null) !== ')') {
                throw new LibraryNotFoundException('header: missing ) in #if');
            }
            return $v;
        }
        return ctype_digit($tok) ? (int)$tok : 0; // an undefined identifier is 0, as in C
    }
}

<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * A client of a running maillimitd's admin socket with the methods of Limiter (the
 * interface MaillimitApi): same arguments, same results, same exceptions. It speaks the
 * admin protocol (msgpack-RPC) with the msgpack extension (Debian: php-msgpack) and needs
 * neither FFI nor libmaillimit, so it works in php-fpm as it is.
 *
 *     $ml = new Maillimit\Client('/var/lib/maillimit/maillimitd.sock');
 *     $page = $ml->listPage(Level::MAILBOX, Level::SUBSCRIPTION, 'acme', count: 50);
 *
 * new Client() finds the socket as maillimitctl does ($MAILLIMITCTL_SOCKET, then
 * maillimitd.sock in /run/maillimit, /var/lib/maillimit, $XDG_RUNTIME_DIR/maillimit,
 *     /tmp/maillimit-UID);
 * 'tcp://127.0.0.1:10032' reaches an `admin_listen inet:` socket. $timeout (seconds) bounds
 * connecting and each request.
 *
 * A missing entity throws NotFoundException, a bad argument InvalidArgumentException, each
 * with the daemon's message in getDetail() ("mailbox joe@x.example: not found") and the
 * admin method in getFunction(). The connection is made at the first call and kept; one the
 * daemon closed (a restart) is noticed before the next request and made again. A request
 * sent and not answered throws DaemonUnavailableException or DaemonTimeoutException (both
 * IOException, code EIO) and closes the connection; it is never sent twice.
 *
 * Differences a panel may notice: top() takes $k up to 1000; eventsNext()/events() return
 * the events of the daemon's log this client has not returned yet ($now is not used);
 * daemon-only calls: ping(), version(), stats(), configReload(), snapshot(), call().
 */
final class Client implements MaillimitApi
{
    private const LEVELS = ['server', 'plan', 'subscription', 'domain', 'mailbox'];
    private const PAGE = 10000;

    /** @var resource|null */
    private $sock = null;
    private string $buf = '';
    private int $msgid = 0;
    private bool $closed = false;
    private int $since = 0;
    /** @var list<Event> */
    private array $pending = [];
    private string $address;

    public function __construct(?string $address = null, private readonly float $timeout = 10.0)
    {
        if (!function_exists('msgpack_pack')) {
            throw new LibraryNotFoundException(
                'Maillimit\Client needs the msgpack extension (Debian: apt-get install php-msgpack)');
        }
        $address ??= self::defaultSocket();
        $this->address = str_contains($address, '://') ? $address : "unix://$address";
    }

    /** The admin socket maillimitd's built-in configuration uses, as maillimitctl finds it. */
    public static function defaultSocket(): string
    {
        $env = getenv('MAILLIMITCTL_SOCKET');
        if ($env !== false && $env !== '') {
            return $env;
        }
        if (file_exists('/run/maillimit/maillimitd.sock')) {
            return '/run/maillimit/maillimitd.sock'; // the systemd unit's
        }
        $dirs = ['/var/lib/maillimit'];
        $xdg = getenv('XDG_RUNTIME_DIR');
        if ($xdg !== false && $xdg !== '') {
            $dirs[] = "$xdg/maillimit";
        }
        $dirs[] = '/tmp/maillimit-' . (function_exists('posix_getuid') ? posix_getuid() : getmyuid());
        foreach ($dirs as $d) {
            if (file_exists("$d/maillimitd.sock")) {
                return "$d/maillimitd.sock";
            }
        }
        return "{$dirs[0]}/maillimitd.sock";
    }

    public function close(): void
    {
        $this->closed = true;
        $this->disconnect();
    }

    public function isClosed(): bool
    {
        return $this->closed;
    }

    public function __destruct()
    {
        $this->disconnect();
    }

    // -- transport ---------------------------------------------------------------------------

    private function where(): string
    {
        return str_starts_with($this->address, 'unix://') ? substr($this->address, 7)
                                                          : $this->address;
    }

    private function disconnect(): void
    {
        if ($this->sock !== null) {
            fclose($this->sock);
            $this->sock = null;
            $this->buf = '';
        }
    }

    private static function transport(string $class, ?string $method, string $detail): never
    {
        $code = ErrorCode::EIO;
        throw new $class($code->value, $code->message(), $method, null, $detail);
    }

    private function connect(?string $method): void
    {
        $errno = 0;
        $errstr = '';
        $s = @stream_socket_client($this->address, $errno, $errstr, $this->timeout);
        if ($s === false) {
            self::transport($errno === 110 ? DaemonTimeoutException::class
                                           : DaemonUnavailableException::class, $method,
                "cannot connect to {$this->where()}: $errstr (is maillimitd running?)");
        }
        $sec = (int)floor($this->timeout);
        stream_set_timeout($s, $sec, (int)(($this->timeout - $sec) * 1e6));
        $this->sock = $s;
        $this->buf = '';
    }

    /** Did the daemon close this connection (a restart) since the last answer? */
    private function peerClosed(): bool
    {
        $r = [$this->sock];
        $w = $e = null;
        if (@stream_select($r, $w, $e, 0) === 0) {
            return false;
        }
        $peek = @stream_socket_recvfrom($this->sock, 1, STREAM_PEEK);
        return $peek === '' || $peek === false;
    }

    /**
     * Call an admin method with positional $params (a list) or named ones (a string-keyed
     * array); returns its result. An error answer throws the exception of its code.
     * @param array<int|string, mixed> $params
     */
    public function call(string $method, array $params = []): mixed
    {
        if ($this->closed) {
            $c = ErrorCode::EINVAL;
            throw new InvalidArgumentException($c->value, $c->message(), $method, null,
                'the client is closed');
        }
        if ($this->sock !== null && $this->peerClosed()) {
            $this->disconnect();
        }
        if ($this->sock === null) {
            $this->connect($method);
        }
        $this->msgid = ($this->msgid + 1) & 0xFFFFFFFF;
        $body = array_is_list($params) ? $params : [$params];
        $data = msgpack_pack([0, $this->msgid, $method, $body]);
        for ($off = 0; $off < strlen($data);) {
            $n = @fwrite($this->sock, substr($data, $off));
            if ($n === false || $n === 0) {
                $this->lost($method, 'write failed');
            }
            $off += $n;
        }
        $reply = $this->read($method);
        [, , $err, $result] = $reply;
        if ($err !== null) {
            $err = (array)$err;
            $code = (int)($err['code'] ?? ErrorCode::EINVAL->value);
            $class = Library::exceptionClass($code);
            $text = ErrorCode::tryFrom($code)?->message() ?? 'unknown error';
            throw new $class($code, $text, $method, null, (string)($err['message'] ?? ''));
        }
        return $result;
    }

    private function lost(string $method, string $why): never
    {
        $meta = $this->sock !== null ? stream_get_meta_data($this->sock) : [];
        $this->disconnect();
        if (!empty($meta['timed_out'])) {
            self::transport(DaemonTimeoutException::class, $method,
                "no answer from {$this->where()} within {$this->timeout} s");
        }
        self::transport(DaemonUnavailableException::class, $method,
            "connection to {$this->where()} lost: $why");
    }

    /** @return array{0: int, 1: int, 2: mixed, 3: mixed} */
    private function read(string $method): array
    {
        $u = new \MessagePackUnpacker(false);
        $u->feed($this->buf);
        $this->buf = '';
        while (!$u->execute()) {
            $chunk = @fread($this->sock, 65536);
            if ($chunk === false || $chunk === '') {
                $this->lost($method, 'closed by maillimitd');
            }
            $u->feed($chunk);
        }
        $msg = $u->data();
        if (!is_array($msg) || count($msg) !== 4 || $msg[0] !== 1 || $msg[1] !== $this->msgid) {
            $this->lost($method, 'an answer that is not msgpack-RPC for this request');
        }
        return $msg;
    }

    // -- conversions ---------------------------------------------------------------------------

    private static function name(?string $name): ?string
    {
        if ($name !== null && str_contains($name, "\0")) {
            $c = ErrorCode::EINVAL;
            throw new InvalidArgumentException($c->value, $c->message(), null, null,
                'a name contains a NUL byte');
        }
        return $name;
    }

    private static function level(Level|int $level): string|int
    {
        $v = $level instanceof Level ? $level->value : $level;
        return self::LEVELS[$v] ?? $v;
    }

    private static function int(\BackedEnum|int $v): int
    {
        return $v instanceof \BackedEnum ? (int)$v->value : $v;
    }

    private static function toLevel(mixed $v): Level|int|null
    {
        if ($v === null) {
            return null;
        }
        if ($v === 'sysuser') {
            return Limiter::LIST_SYSUSER;
        }
        $i = array_search($v, self::LEVELS, true);
        return $i === false ? (int)$v : Level::from($i);
    }

    private static function toWindow(mixed $v): ?Window
    {
        return $v === null ? null : ($v === 'day' ? Window::DAY : Window::HOUR);
    }

    /** @param array<string, mixed>|object|null $m */
    private static function toStatus(array|object|null $m): ?Status
    {
        if ($m === null) {
            return null;
        }
        $m = (array)$m;
        return new Status((bool)$m['sending'], self::toLevel($m['blocked_by']), $m['count'],
            $m['limit'], $m['remaining'], $m['retry_after'], $m['reset_after']);
    }

    // -- daemon --------------------------------------------------------------------------------

    public function ping(): bool
    {
        return $this->call('ping') === 'pong';
    }

    /** @return array{library: string, number: int} */
    public function version(): array
    {
        return (array)$this->call('version');
    }

    /** @return array<string, int> the daemon's request counters */
    public function stats(): array
    {
        return (array)$this->call('stats');
    }

    /** Re-read maillimitd's configuration file (an error: FormatException "FILE:LINE: ..."). */
    public function configReload(): void
    {
        $this->call('config.reload');
    }

    /** Make the daemon save its state file now. */
    public function snapshot(): void
    {
        $this->call('snapshot.save');
    }

    // -- hierarchy -----------------------------------------------------------------------------

    public function planAdd(string $plan): void
    {
        $this->call('entity.add', ['plan', self::name($plan)]);
    }

    public function subscriptionAdd(string $subscription, ?string $plan = null): void
    {
        $this->call('entity.add', ['subscription', self::name($subscription), self::name($plan)]);
    }

    public function domainAdd(string $domain, string $subscription): void
    {
        $this->call('entity.add', ['domain', self::name($domain), self::name($subscription)]);
    }

    public function mailboxAdd(string $address): void
    {
        $this->call('entity.add', ['mailbox', self::name($address)]);
    }

    public function sysuserAdd(string $login, string $subscription): void
    {
        $this->call('entity.add', ['sysuser', self::name($login), self::name($subscription)]);
    }

    public function remove(Level|int $level, string $name): void
    {
        $this->call('entity.remove', [self::level($level), self::name($name)]);
    }

    public function sysuserRemove(string $login): void
    {
        $this->call('entity.remove', ['sysuser', self::name($login)]);
    }

    public function sysuserMove(string $login, string $subscription): void
    {
        $this->call('entity.move', ['sysuser', self::name($login), self::name($subscription)]);
    }

    public function domainMove(string $domain, string $subscription): void
    {
        $this->call('entity.move', ['domain', self::name($domain), self::name($subscription)]);
    }

    public function subscriptionPlanSet(string $subscription, ?string $plan): void
    {
        $this->call('entity.move', ['subscription', self::name($subscription), self::name($plan)]);
    }

    // -- limits, flags, settings ---------------------------------------------------------------

    public function limitSet(Level|int $level, ?string $name, Level|int $target,
                             Window|int $window, int $value): void
    {
        $this->call('limit.set', [self::level($level), self::name($name), self::level($target),
            self::int($window), $value]);
    }

    public function limitConfigured(Level|int $level, ?string $name, Level|int $target,
                               Window|int $window): int
    {
        return $this->call('limit.configured', [self::level($level), self::name($name),
            self::level($target), self::int($window)]);
    }

    public function limitEffective(Level|int $level, ?string $name,
                             Window|int $window = Window::HOUR): int
    {
        return $this->call('limit.effective', [self::level($level), self::name($name),
            self::int($window)]);
    }

    public function enabledSet(bool $on = true): void
    {
        $this->call('enabled.set', [$on]);
    }

    public function enabledGet(): bool
    {
        return (bool)$this->call('enabled.get');
    }

    private static function flag(Flag|int $flag): string|int
    {
        $f = self::int($flag);
        return [0 => 'sendmail', 1 => 'exempt'][$f] ?? $f;
    }

    public function flagSet(Level|int $level, ?string $name, Flag|int $flag,
                            bool|int $value): void
    {
        $this->call('flag.set', [self::level($level), self::name($name), self::flag($flag),
            is_bool($value) ? (int)$value : $value]);
    }

    public function flagEffective(Level|int $level, ?string $name, Flag|int $flag): bool
    {
        $r = (array)$this->call('flag.get', [self::level($level), self::name($name),
            self::flag($flag)]);
        return (bool)$r['effective'];
    }

    public function flagConfigured(Level|int $level, ?string $name, Flag|int $flag): int
    {
        $r = (array)$this->call('flag.get', [self::level($level), self::name($name),
            self::flag($flag)]);
        return $r['configured'];
    }

    public function unitSet(Unit|int $unit): void
    {
        $u = self::int($unit);
        $this->call('unit.set', [[0 => 'messages', 1 => 'recipients'][$u] ?? $u]);
    }

    public function unitGet(): Unit
    {
        return $this->call('unit.get') === 'recipients' ? Unit::RECIPIENTS : Unit::MESSAGES;
    }

    // -- decisions and status -------------------------------------------------------------------

    /** Decide and count, as Limiter::decide() (the daemon counts it for real). */
    public function decide(Level|int $level, string $sender, int $cost = 1,
                           int $now = 0): Verdict
    {
        $r = (array)$this->call('decide', [self::level($level), self::name($sender), $cost, $now]);
        $token = $r['token'] ?? 0;
        if (is_string($token)) {
            // an unsigned 64-bit token above PHP_INT_MAX: the same bits as Limiter gives
            $token = PHP_INT_MIN + (int)((float)$token - 9223372036854775808.0);
        }
        return new Verdict($r['decision'] === 'deny' ? Decision::DENY : Decision::ALLOW,
            constant(Reason::class . '::' . strtoupper($r['reason'])),
            self::toLevel($r['level']), self::toWindow($r['window']), $r['limit'], $r['count'],
            $r['retry_after'], $token);
    }

    public function reset(Level|int $level, ?string $name): void
    {
        $this->call('reset', [self::level($level), self::name($name)]);
    }

    public function status(Level|int $level, ?string $name, Window|int $window = Window::HOUR,
                           int $now = 0): Status
    {
        return self::toStatus($this->call('status', [self::level($level), self::name($name),
            self::int($window), $now]));
    }

    public function statusGet(Level|int $level, ?string $name,
                              Window|int $window = Window::HOUR, int $now = 0): Status
    {
        return $this->status($level, $name, $window, $now);
    }

    /** The status of each [level, name] pair, in order, in one request. */
    public function statusMany(iterable $items, Window|int $window = Window::HOUR,
                               int $now = 0): array
    {
        $wire = [];
        foreach ($items as [$level, $name]) {
            $wire[] = [self::level($level), self::name($name)];
        }
        return array_map(self::toStatus(...),
            $this->call('status.many', [$wire, self::int($window), $now]));
    }

    // -- reports and events --------------------------------------------------------------------

    public function retentionSet(int $hours): void
    {
        $this->call('retention', [$hours]);
    }

    public function retentionGet(): int
    {
        return $this->call('retention');
    }

    /** @return array<string, mixed> */
    private static function range(Level|int $level, ?string $name, int $from, int $to,
                                  int $now): array
    {
        return ['level' => self::level($level), 'name' => self::name($name), 'from' => $from,
            'to' => $to, 'now' => $now];
    }

    public function historyOpen(Level|int $level, ?string $name, int $from, int $to,
                                int $now = 0): RowIterator
    {
        $rows = [];
        foreach ($this->call('history', self::range($level, $name, $from, $to, $now)) as $r) {
            $rows[] = new HistoryRow($r['hour_start'], $r['sent'], $r['denied'], $r['exempt']);
        }
        return new RowIterator($rows);
    }

    public function history(Level|int $level, ?string $name, int $from, int $to,
                            int $now = 0): array
    {
        return $this->historyOpen($level, $name, $from, $to, $now)->toArray();
    }

    public function episodesOpen(Level|int $level, ?string $name, int $from, int $to,
                                 int $now = 0): RowIterator
    {
        $rows = [];
        foreach ($this->call('episodes', self::range($level, $name, $from, $to, $now)) as $r) {
            $rows[] = new Episode(self::toLevel($r['level']), $r['name'],
                self::toWindow($r['window']), (bool)$r['ongoing'], $r['started'], $r['ended'],
                $r['limit'], $r['denied']);
        }
        return new RowIterator($rows);
    }

    public function episodes(Level|int $level, ?string $name, int $from, int $to,
                             int $now = 0): array
    {
        return $this->episodesOpen($level, $name, $from, $to, $now)->toArray();
    }

    public function top(Level|int $level, Metric|int $metric, int $from, int $to, int $k = 10,
                        Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                        int $now = 0): array
    {
        if ($k < 0) {
            $c = ErrorCode::EINVAL;
            throw new InvalidArgumentException($c->value, $c->message(), 'top', null,
                "k=$k < 0");
        }
        if ($k === 0) {
            return [];
        }
        $m = self::int($metric);
        $rows = $this->call('top', ['level' => self::level($level),
            'metric' => [0 => 'sent', 1 => 'denied'][$m] ?? $m, 'from' => $from, 'to' => $to,
            'now' => $now, 'k' => $k, 'scope_level' => self::level($scopeLevel),
            'scope_name' => self::name($scopeName)]);
        $out = [];
        foreach ($rows as $r) {
            $out[] = new TopRow(self::toLevel($r['level']), $r['name'], $r['sent'], $r['denied'],
                $r['exempt']);
        }
        return $out;
    }

    public function summary(Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                            int $from = 0, int $to = 0, int $now = 0): Summary
    {
        $r = (array)$this->call('summary', self::range($scopeLevel, $scopeName, $from, $to, $now));
        return new Summary($r['sent'], $r['denied'], $r['exempt'], $r['unattributed'],
            $r['limited_entities']);
    }

    public function summaryGet(Level|int $scopeLevel = Level::SERVER, ?string $scopeName = null,
                               int $from = 0, int $to = 0, int $now = 0): Summary
    {
        return $this->summary($scopeLevel, $scopeName, $from, $to, $now);
    }

    /**
     * The oldest event of the daemon's log this client has not returned yet, or null. (The
     * daemon keeps the recent events for every client and notices ended episodes itself;
     * $now is not used.)
     */
    public function eventsNext(int $now = 0): ?Event
    {
        if (!$this->pending) {
            foreach ($this->call('events', [$this->since]) as $r) {
                $this->pending[] = new Event($r['type'] === 'limit_reached'
                    ? EventType::LIMIT_REACHED : EventType::BACK_TO_NORMAL,
                    self::toLevel($r['level']), $r['name'], self::toWindow($r['window']),
                    $r['time'], $r['limit'], $r['denied'], $r['seq']);
            }
        }
        $e = array_shift($this->pending);
        if ($e !== null) {
            $this->since = max($this->since, $e->seq);
        }
        return $e;
    }

    public function events(int $now = 0): \Generator
    {
        while (($e = $this->eventsNext($now)) !== null) {
            yield $e;
        }
    }

    // -- listing ---------------------------------------------------------------------------------

    /** @return array<string, mixed> */
    private function listCall(Level|int $level, Level|int $scopeLevel, ?string $scopeName,
                              bool $implicit, int $offset, int $count, bool $details,
                              Window|int $window = Window::HOUR, int $now = 0): array
    {
        $lv = self::int($level);
        return (array)$this->call('list', [
            'level' => $lv === Limiter::LIST_SYSUSER ? 'sysuser' : self::level($lv),
            'scope_level' => self::level($scopeLevel), 'scope_name' => self::name($scopeName),
            'implicit' => $implicit, 'offset' => $offset, 'count' => $count,
            'details' => $details, 'window' => self::int($window), 'now' => $now]);
    }

    /**
     * The whole listing, read in pages of 10000 that belong to one generation of the
     * hierarchy (read again from the start if it changed in between).
     */
    public function listOpen(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                             ?string $scopeName = null, bool $implicit = false): RowIterator
    {
        for ($try = 0; $try < 10; $try++) {
            $rows = [];
            $gen = null;
            while (true) {
                $r = $this->listCall($level, $scopeLevel, $scopeName, $implicit, count($rows),
                    self::PAGE, false);
                if ($gen !== null && $r['generation'] !== $gen) {
                    continue 2;
                }
                $gen = $r['generation'];
                foreach ($r['entities'] as $e) {
                    $rows[] = new Entity(self::toLevel($e['level']), $e['name'], $e['parent'],
                        (bool)$e['implicit']);
                }
                if (!$r['entities'] || count($rows) >= $r['total']) {
                    return new RowIterator($rows);
                }
            }
        }
        $c = ErrorCode::EBUSY;
        throw new BusyException($c->value, $c->message(), 'list', null,
            'the hierarchy kept changing while it was listed');
    }

    public function list(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                         ?string $scopeName = null, bool $implicit = false): array
    {
        return $this->listOpen($level, $scopeLevel, $scopeName, $implicit)->toArray();
    }

    /** One request: $count entities (null: all, at most 100000) from $offset, with details. */
    public function listPage(Level|int $level, Level|int $scopeLevel = Level::SERVER,
                             ?string $scopeName = null, bool $implicit = false,
                             int $offset = 0, ?int $count = null,
                             Window|int $window = Window::HOUR, int $now = 0): ListPage
    {
        if ($offset < 0 || ($count !== null && $count < 0)) {
            $c = ErrorCode::EINVAL;
            throw new InvalidArgumentException($c->value, $c->message(), 'listPage', null,
                "offset=$offset, count=" . ($count ?? 'null'));
        }
        $r = $this->listCall($level, $scopeLevel, $scopeName, $implicit, $offset,
            $count ?? 100000, true, $window, $now);
        $out = [];
        foreach ($r['entities'] as $e) {
            $limits = [];
            foreach ((array)($e['limits'] ?? []) as $t => $ws) {
                foreach ((array)$ws as $w => $v) {
                    $limits["$t/$w"] = $v;
                }
            }
            $out[] = new EntityDetails(self::toLevel($e['level']), $e['name'], $e['parent'],
                (bool)$e['implicit'], $limits, (array)($e['flags'] ?? []),
                self::toStatus($e['status'] ?? null));
        }
        return new ListPage($r['generation'], $r['total'], $offset, $out);
    }

    public function generation(): int
    {
        return $this->call('generation');
    }
}

<?php
// SPDX-License-Identifier: MIT

/**
 * A maillimitd started by a test: private temporary directory, unix admin socket, no policy
 * listener, no state file; always stopped (SIGTERM, then waited for).
 */

declare(strict_types=1);

final class Daemon
{
    public string $dir;
    public string $socket;
    public string $config;
    /** @var resource|null */
    private $proc = null;

    public function __construct(string $extra = '')
    {
        $bin = getenv('MAILLIMITD');
        if ($bin === false || $bin === '') {
            throw new RuntimeException('MAILLIMITD (the maillimitd binary) is not set');
        }
        $this->dir = rtrim(shell_exec('mktemp -d /tmp/maillimit-phpclient.XXXXXX') ?? '', "\n");
        $this->socket = "{$this->dir}/admin.sock";
        $this->config = "{$this->dir}/maillimit.conf";
        file_put_contents($this->config, "policy_listen none\nadmin_listen unix:{$this->socket}\n"
            . "state_file none\nlog stderr\n" . $extra);
    }

    public function start(): void
    {
        $bin = getenv('MAILLIMITD');
        $log = fopen("{$this->dir}/log", 'a');
        $this->proc = proc_open([$bin, '-f', '-c', $this->config], [0 => ['file', '/dev/null', 'r'],
            1 => $log, 2 => $log], $pipes);
        fclose($log);
        $deadline = microtime(true) + 10;
        while (microtime(true) < $deadline) {
            $st = proc_get_status($this->proc);
            if (!$st['running']) {
                throw new RuntimeException('maillimitd exited: ' . $this->log());
            }
            $s = @stream_socket_client("unix://{$this->socket}", $errno, $errstr, 1);
            if ($s !== false) {
                fclose($s);
                return;
            }
            usleep(10000);
        }
        throw new RuntimeException('maillimitd did not start: ' . $this->log());
    }

    public function pid(): int
    {
        return proc_get_status($this->proc)['pid'];
    }

    public function stop(): void
    {
        if ($this->proc !== null) {
            if (proc_get_status($this->proc)['running']) {
                posix_kill($this->pid(), SIGCONT);
                proc_terminate($this->proc, SIGTERM);
            }
            proc_close($this->proc);
            $this->proc = null;
        }
    }

    public function restart(): void
    {
        $this->stop();
        $this->start();
    }

    public function pause(): void
    {
        posix_kill($this->pid(), SIGSTOP);
    }

    public function resume(): void
    {
        posix_kill($this->pid(), SIGCONT);
    }

    public function log(): string
    {
        return (string)@file_get_contents("{$this->dir}/log");
    }

    public function close(): void
    {
        try {
            $this->stop();
        } finally {
            exec('rm -rf ' . escapeshellarg($this->dir));
        }
    }
}

/** Run $fn with a started daemon; stop it whatever happens. */
function with_daemon(callable $fn, string $extra = ''): void
{
    $d = new Daemon($extra);
    try {
        $d->start();
        $fn($d);
    } finally {
        $d->close();
    }
}

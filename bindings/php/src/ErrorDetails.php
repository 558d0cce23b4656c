<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** What every MaillimitException carries; the message reads "function(args): text: detail". */
trait ErrorDetails
{
    private string $libraryMessage;
    private ?string $function;
    private ?string $detail;

    public function __construct(int $code, string $libraryMessage, ?string $function = null,
                                ?string $context = null, ?string $detail = null,
                                ?\Throwable $previous = null)
    {
        $this->libraryMessage = $libraryMessage;
        $this->function = $function;
        $this->detail = ($detail === null || $detail === '') ? null : $detail;
        $where = ($function ?? 'maillimit') . ($context !== null ? "($context)" : '');
        if ($this->detail !== null && str_ends_with($this->detail, $libraryMessage)) {
            // a daemon's message names the object and ends with the reason already:
            // "limit.set: mailbox joe@x.example: not found"
            $text = "$where: {$this->detail}";
        } else {
            $text = "$where: $libraryMessage" . ($this->detail !== null ? ": {$this->detail}" : '');
        }
        parent::__construct($text, $code, $previous);
    }

    public function getLibraryMessage(): string
    {
        return $this->libraryMessage;
    }

    public function getFunction(): ?string
    {
        return $this->function;
    }

    public function getDetail(): ?string
    {
        return $this->detail;
    }

    public function getErrorCode(): ?ErrorCode
    {
        return ErrorCode::tryFrom($this->getCode());
    }
}

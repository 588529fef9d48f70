"""Logging set-up shared by every process: one format, and no secret ever written.

requests-oauthlib logs whole token responses at DEBUG, so its loggers are capped at INFO; and a
filter on every handler masks the client secret, bearer tokens and access tokens in case some
other library prints them.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
    re.compile(r"""(["']?access_token["']?\s*[:=]\s*["']?)[^"'\s,}&]+""", re.IGNORECASE),
    re.compile(r"(Basic\s+)[A-Za-z0-9+/=]+", re.IGNORECASE),
]
CHATTY_LOGGERS = ("requests_oauthlib", "oauthlib")


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's final message."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s]

    def redact(self, text: str) -> str:
        """``text`` with every known secret and token replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        for pattern in _PATTERNS:
            text = pattern.sub(r"\1***", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; always keeps it."""
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def describe_exception(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, for one-line logs and operator messages."""
    text = str(exc).strip().splitlines()[0][:limit] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text and name not in text else (text or name)


def protect(handlers: list[logging.Handler] | None = None, secrets: list[str] | None = None) -> None:
    """Cap the chatty loggers and put the redacting filter on ``handlers`` (default: the root's)."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    targets = handlers if handlers is not None else logging.getLogger().handlers
    for handler in targets:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets(secrets))

"""Logging configuration from LOG_LEVEL, LOG_FORMAT and LOG_OUTPUT (api.md §8.2).

``LOG_FORMAT=json``: one JSON object per line (``timestamp``, ``level``, ``logger``, ``pid``,
``message``, then the record's fields: ``trace_id``, ``route``, ``status``...).
``LOG_FORMAT=human`` (default): ``<time> <LEVEL> <logger>: <message> key=value...``.
Every record logged while a request is served carries its ``trace_id``. Values of fields named
like credentials, and passwords inside URLs, are replaced by ``***``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import re
import sys
import time
from typing import Any

from kato.service import request_context
from kato.service.settings import Settings

# Fields of the access line, in the order the human format appends them.
HUMAN_FIELDS = ("trace_id", "route", "node_id", "session_id")
REDACTED = "***"
_SENSITIVE_KEY = re.compile(r"pass(word)?|secret|token|api_?key|authorization|cookie", re.I)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]+@", re.I)
_STANDARD_KEYS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, __file__, 0, "", None, None))
) | {"message", "asctime", "taskName", "color_message"}


def scrub(text: str) -> str:
    """``redis://user:secret@host`` -> ``redis://user:***@host``."""
    if "://" not in text:  # every access line: skip the regex
        return text
    return _URL_PASSWORD.sub(rf"\g<scheme>:{REDACTED}@", text)


@functools.cache
def _is_sensitive(key: str) -> bool:
    return _SENSITIVE_KEY.search(key) is not None


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record, credentials redacted."""
    fields: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD_KEYS or key.startswith("_"):
            continue
        if _is_sensitive(key):
            value = REDACTED
        elif isinstance(value, str):
            value = scrub(value)
        fields[key] = value
    return fields


class TraceIdFilter(logging.Filter):
    """Adds the trace id of the request being served to records that have none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None) is None:
            info = request_context.current()
            if info is not None:
                record.trace_id = info.trace_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _dt.datetime.fromtimestamp(record.created, tz=_dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": scrub(record.getMessage()),
        }
        for key, value in record_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


_NEEDS_QUOTES = re.compile(r"[\s\"=]")


def _human_value(value: object) -> str:
    text = scrub(value) if isinstance(value, str) else str(value)
    return json.dumps(text, ensure_ascii=False) if not text or _NEEDS_QUOTES.search(text) else text


class HumanFormatter(logging.Formatter):
    """``2026-01-02 10:00:00,123 INFO kato.access: GET /health 200 0.4ms trace_id=kato-...``.

    Every request logs a line through it, so it reads only the fields it prints (none of them
    is named like a credential, and their values are scrubbed as ``record_fields`` does) and
    formats a second's date and time once.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if self._second[0] != second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, stamp)
        return f"{self._second[1]},{int(record.msecs):03d}"  # logging's default_msec_format

    def format(self, record: logging.LogRecord) -> str:
        line = scrub(super().format(record))
        extras = [
            f"{key}={_human_value(value)}"
            for key in HUMAN_FIELDS
            if (value := getattr(record, key, None)) is not None
        ]
        return " ".join([line, *extras]) if extras else line


def _handler(output: str) -> logging.Handler:
    if output == "stdout":
        return logging.StreamHandler(sys.stdout)
    if output == "stderr":
        return logging.StreamHandler(sys.stderr)
    return logging.FileHandler(output, encoding="utf-8")


def configure_logging(settings: Settings) -> None:
    """Route the ``kato.*`` loggers to LOG_OUTPUT in LOG_FORMAT at LOG_LEVEL."""
    handler = _handler(settings.log_output)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else HumanFormatter())
    handler.addFilter(TraceIdFilter())
    logger = logging.getLogger("kato")
    for old in logger.handlers:
        old.close()
    logger.handlers = [handler]
    logger.setLevel(settings.log_level)
    logger.propagate = False

"""Logging configuration from LOG_LEVEL, LOG_FORMAT and LOG_OUTPUT (api.md §8.2)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from kato.service.settings import Settings

_EXTRA_FIELDS = ("trace_id", "method", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _EXTRA_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler: logging.Handler
    if settings.log_output == "stdout":
        handler = logging.StreamHandler(sys.stdout)
    elif settings.log_output == "stderr":
        handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.FileHandler(settings.log_output, encoding="utf-8")
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("kato")
    logger.handlers = [handler]
    logger.setLevel(settings.log_level)
    logger.propagate = False

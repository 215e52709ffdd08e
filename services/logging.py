"""structlog set-up: JSON lines in production, a readable console on a terminal.

JSON lines are encoded with msgspec and written as bytes (``LineOutput``):
the API writes one per request (its access log), so a line must cost a few
microseconds, not a tenth of a short request. Values JSON has no type for are written as their
``repr()`` (or their ``__structlog__()``), as structlog's own renderer does;
dates, times, UUIDs and decimals as strings."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import msgspec
import structlog


def _fallback(value: Any) -> Any:
    structlog_form = getattr(value, "__structlog__", None)
    return structlog_form() if callable(structlog_form) else repr(value)


_ENCODER = msgspec.json.Encoder(enc_hook=_fallback)


def render_json_bytes(logger: Any, method_name: str, event_dict: structlog.types.EventDict) -> bytes:
    """The event as one JSON object, in bytes (for structlog's BytesLogger)."""
    return _ENCODER.encode(event_dict)


def render_json(logger: Any, method_name: str, event_dict: structlog.types.EventDict) -> str:
    """The event as one JSON object (for the standard library's handler)."""
    return _ENCODER.encode(event_dict).decode()


class UtcTimestamp:
    """``timestamp``: the time in UTC, ISO 8601 with microseconds
    (``2026-11-03T09:00:00.000000Z``), as structlog's ``TimeStamper(fmt="iso",
    utc=True)`` writes it, at a fraction of its cost: the date and time to the
    second are formatted once a second. The time is now, or the POSIX time the
    caller gives as ``timestamp`` (a float: when what it logs later happened)."""

    def __init__(self) -> None:
        # (second, its formatted date and time): one attribute, replaced whole (threads log too).
        self._cached = (-1, "")

    def __call__(
        self, logger: Any, method_name: str, event_dict: structlog.types.EventDict
    ) -> structlog.types.EventDict:
        given = event_dict.get("timestamp")
        now = given if type(given) is float else time.time()
        second = int(now)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._cached = (second, prefix)
        event_dict["timestamp"] = f"{prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event_dict


class LineOutput:
    """Where structlog's JSON lines go: each written to the stream as it
    comes (one write, flushed) — or, inside ``batched()``, every line of the
    block in one write at its end (a process that logs a line per request
    makes one write per batch of them)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._held: list[bytes] | None = None

    def msg(self, message: bytes) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(message)
            else:
                self._file.write(message + b"\n")
                self._file.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        with self._lock:
            if self._held is not None:  # already inside a batch
                nested = True
            else:
                nested = False
                self._held = []
        try:
            yield
        finally:
            if not nested:
                with self._lock:
                    held, self._held = self._held, None
                    if held:
                        self._file.write(b"\n".join(held) + b"\n")
                        self._file.flush()


# The process's JSON output, once configure() has chosen it.
_OUTPUT: LineOutput | None = None


def batched() -> contextlib.AbstractContextManager[None]:
    """Lines logged inside the block are written together at its end (JSON
    output; otherwise each as it comes)."""
    return contextlib.nullcontext() if _OUTPUT is None else _OUTPUT.batched()


def configure(log_format: str = "auto", level: str = "info") -> None:
    """Configure structlog and the stdlib root logger (aiokafka, uvicorn) once per process."""
    use_console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    renderer: structlog.types.Processor = structlog.dev.ConsoleRenderer() if use_console else render_json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        UtcTimestamp(),
    ]
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    global _OUTPUT
    binary = getattr(sys.stderr, "buffer", None)
    logger_factory: Any
    if use_console or binary is None:
        _OUTPUT = None
        logger_factory = structlog.PrintLoggerFactory(file=sys.stderr)
        own_renderer = renderer
    else:
        output = _OUTPUT = LineOutput(binary)
        logger_factory = lambda *args: output  # noqa: E731 - one output for every logger
        own_renderer = render_json_bytes
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, own_renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )
    # Third-party libraries log through stdlib logging; render them the same way.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric_level, logging.WARNING))


def context_var(key: str) -> contextvars.ContextVar[Any]:
    """The context variable behind structlog's context-local ``key`` (what
    ``bind_contextvars(key=…)`` sets): ``set()`` binds ``key`` for every line
    logged in the current context, ``reset(token)`` unbinds it — a tenth of
    the cost of bind_contextvars and reset_contextvars, for code on every
    request's path."""
    tokens = structlog.contextvars.bind_contextvars(**{key: None})
    structlog.contextvars.reset_contextvars(**tokens)
    var: contextvars.ContextVar[Any] = tokens[key].var
    return var


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger

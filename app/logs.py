"""structlog configuration: JSON lines in production, a console renderer for people."""

from __future__ import annotations

import logging
import sys

import structlog

from app.config import Settings
from app.redaction import redact_rendered, remember

# Tracebacks name the frames, never their local variables: a local is often a key or a page.
_DICT_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def configure_logging(settings: Settings) -> None:
    remember(settings.secret_values())  # this process's secrets, however settings reached it
    level = logging.getLevelNamesMapping()[settings.log_level]
    log_format = settings.log_format or ("console" if sys.stderr.isatty() else "json")
    renderer: structlog.types.Processor = (
        # Colours only on a terminal: a file or a container's log gets no escape codes.
        structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            _DICT_TRACEBACKS if log_format == "json" else structlog.processors.format_exc_info,
            renderer,
            redact_rendered,  # last: the whole line as written, whatever a value held
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line (PrintLogger writes the newline apart): worker processes share
        # stderr, and two half-written lines would run into each other.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (uvicorn, alembic) share the format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
                redact_rendered,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # The service logs requests itself (without probe paths); uvicorn's access log is off.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger

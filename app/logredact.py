"""Access-log lines never carry a sign-in's secrets: the single sign-on callback's ``code`` and
``state`` (and any ``key=`` a misguided client puts in a URL) are replaced by ``[redacted]``.

uvicorn's access logger formats ``(client, method, path with query, http version, status)``;
the filter rewrites the path argument before the line is formatted.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(r"(?i)([?&](?:code|state|key|token|access_token|id_token)=)[^&\s]*")


def redact(path: str) -> str:
    return SECRET_PARAMS.sub(r"\1[redacted]", path)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())

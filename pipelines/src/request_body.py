"""Reading a scoring request's JSON body, for the scoring scripts of every kind
(``score.py``, ``generate_score.py``): a declared JSON content type in UTF-8,
at most ``MAX_BYTES`` bytes (``MAX_REQUEST_BYTES`` in the environment,
default 1 MiB), read no further than that. ``BadRequest`` carries a message
that is safe to return to the caller, and the HTTP status to return it with.
"""

from __future__ import annotations

import os

MAX_BYTES = int(os.environ.get("MAX_REQUEST_BYTES", str(1024 * 1024)))
READ_CHUNK = 64 * 1024


class BadRequest(ValueError):
    """The request cannot be scored; the message is safe to return to the caller."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_content_type(mimetype: str, params: dict[str, str]) -> None:
    """Refuse (415) a body not declared as JSON in UTF-8. ``mimetype`` is the
    request's media type in lower case, ``params`` the parameters that follow it."""
    if mimetype != "application/json":
        raise BadRequest("Content-Type must be application/json; send the body as JSON", 415)
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise BadRequest(
            "Content-Type declares a charset other than utf-8; send JSON in UTF-8", 415
        )


def json_body(request, advice: str = "send fewer rows") -> bytes:
    """The body of a scoring request: a POST (else 405) declared as JSON in UTF-8
    (``check_content_type``), read as ``read_body`` reads it."""
    if request.method != "POST":
        raise BadRequest("use POST with a JSON body", 405)
    check_content_type(request.mimetype, request.mimetype_params)
    return read_body(request, advice)


def read_body(request, advice: str = "send fewer rows") -> bytes:
    """The body of ``request`` (a werkzeug request), read no further than one
    byte past ``MAX_BYTES``: a Content-Length over the limit is refused (413)
    before reading, a body without one (chunked) once it passes the limit."""
    declared = request.content_length
    if declared is not None and declared > MAX_BYTES:
        raise too_large(advice)
    wanted = MAX_BYTES + 1 if declared is None else declared
    stream, parts, size = request.stream, [], 0
    while size < wanted:
        part = stream.read(min(READ_CHUNK, wanted - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > MAX_BYTES:
        raise too_large(advice)
    return b"".join(parts)


def utf8_text(body: bytes) -> str:
    """The body as text: JSON is read as UTF-8 only, a leading byte order mark allowed."""
    message = "request body is not UTF-8 text; send JSON encoded in UTF-8"
    # JSON starts with an ASCII character: a NUL byte among the first four is
    # UTF-16 or UTF-32, which json.loads would otherwise decode from bytes.
    if b"\x00" in body[:4]:
        raise BadRequest(message)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(message) from None


def too_large(advice: str = "send fewer rows") -> BadRequest:
    return BadRequest(f"request body is larger than {MAX_BYTES} bytes; {advice}", 413)

from __future__ import annotations

import gc
import io
import json
import os
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


class BodyWithinDeadline:
    """Reads a request's body, as long as its Content-Length says, before Django sees it,
    within `seconds`; a body that stops short (the client sent less than it announced, or
    went quiet) is answered 400 naming Content-Length instead of holding the worker.

    gunicorn's sync worker reads the body with a blocking socket and no timeout, so such a
    client held a worker until gunicorn's worker timeout killed it. The deadline is set on
    the socket before each read; a client trickling a byte at a time is still bounded by
    that worker timeout (a buffering proxy in front stops it earlier). Bodies above
    `max_bytes` pass through untouched (the views answer 413), as does everything outside
    gunicorn (no `gunicorn.socket`: the test client, runserver).
    """

    CHUNK = 64 * 1024

    def __init__(self, app, *, seconds: float, max_bytes: int):
        self.app, self.seconds, self.max_bytes = app, seconds, max_bytes

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if sock is None or not 0 < length <= self.max_bytes:
            return self.app(environ, start_response)
        body, previous = bytearray(), sock.gettimeout()
        deadline = time.monotonic() + self.seconds
        try:
            while len(body) < length:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                chunk = environ["wsgi.input"].read(min(self.CHUNK, length - len(body)))
                if not chunk:
                    break
                body += chunk
        except (TimeoutError, OSError):
            pass
        finally:
            try:
                sock.settimeout(previous)
            except OSError:
                pass
        if len(body) < length:
            return self._incomplete(start_response, length=length)
        environ["wsgi.input"] = io.BytesIO(bytes(body))
        return self.app(environ, start_response)

    def _incomplete(self, start_response, *, length: int):
        # What arrived of a read that timed out stays in gunicorn's buffer: no count to give.
        message = f"the body did not reach the {length} bytes its Content-Length announced within {self.seconds:g} s"
        answer = json.dumps({"errors": [{"field": "Content-Length", "code": "incomplete_body", "message": message}]}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", str(len(answer))),
                                           ("Connection", "close")])
        return [answer]


def _application():
    from django.conf import settings

    django_app = get_wsgi_application()
    return BodyWithinDeadline(django_app, seconds=settings.REQUEST_BODY_SECONDS, max_bytes=settings.SCORE_MAX_BODY_BYTES)


application = _application()


def _settle_startup_objects() -> None:
    """Import every view (and through them pandas, LightGBM, scikit-learn) now, then move
    the ~300,000 objects that exist for the life of the process out of the collector's way.

    Otherwise, every so often a request triggers a full collection that walks all of them:
    a pause of a quarter to half a second in the middle of someone's /score call, which
    is what the slowest 1 % of requests were made of. Frozen objects are never collected,
    which is right for modules, classes and settings; what requests allocate is collected
    as before.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (loads the URLconf and every view module)
    gc.collect()
    gc.freeze()


_settle_startup_objects()

from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()


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

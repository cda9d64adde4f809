"""The model report of each version, served to managers."""
from __future__ import annotations

import mimetypes
from pathlib import Path

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from accounts.permissions import role_required
from accounts.roles import MANAGER
from ml.report import REPORT_FILES
from scoring.models import ModelVersion


@role_required(MANAGER)
def model_report(request, name: str, filename: str = "report.html"):
    # Only the files the report generator writes, never a path from the URL.
    if filename not in REPORT_FILES:
        raise Http404("no such report file")
    version = get_object_or_404(ModelVersion, name=name)
    path = Path(version.bundle_path) / "report" / filename
    if not path.is_file():
        raise Http404(f"model {name} has no report; it was registered without training here")
    content_type = "text/markdown; charset=utf-8" if filename.endswith(".md") else mimetypes.guess_type(path.name)[0]
    return FileResponse(open(path, "rb"), content_type=content_type)

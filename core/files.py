"""Files written whole or not at all: beside the destination first, renamed at the end, so a
reader (or a re-run after a crash) never sees half a file."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

FRAME_SUFFIXES = (".csv", ".parquet")


@contextmanager
def written_whole(path: Path | str) -> Iterator[Path]:
    """The temporary path to write to; it becomes `path` when the block ends, and is removed
    if the block fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def frame_write(frame: pd.DataFrame, path: Path | str, **csv_options: Any) -> Path:
    """A frame to .csv or .parquet, chosen by the suffix, written whole. `csv_options` go to
    `DataFrame.to_csv` (a date format, say)."""
    path = Path(path)
    if path.suffix.lower() not in FRAME_SUFFIXES:
        raise ValueError(f"{path}: unsupported suffix {path.suffix!r}; the file must end in .csv or .parquet")
    with written_whole(path) as partial:
        if path.suffix.lower() == ".csv":
            frame.to_csv(partial, index=False, **csv_options)
        else:
            frame.to_parquet(partial, index=False)
    return path

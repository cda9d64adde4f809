"""The feature table of docs/model.md, written from `ml.features.FEATURES`, so the page
lists exactly the features the code computes, with the words reasons use.

    python -m ml.feature_docs docs/model.md           # rewrite the table in place
    python -m ml.feature_docs --check docs/model.md   # exit 1 when the page is out of date
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ml.features import FEATURES, FeatureSpec

START = "<!-- feature table: written by `python -m ml.feature_docs docs/model.md` -->"
END = "<!-- end of feature table -->"


def _words(spec: FeatureSpec) -> str:
    """The reason template with its value left out: "… devices used by this account …"."""
    text = spec.describe.replace("{value_yesno} ", "yes or no: ")
    return re.sub(r"\{value[^}]*\}", "…", text)


def feature_table() -> str:
    rows = ["| feature | needs | what it measures |", "|---|---|---|"]
    for spec in FEATURES:
        needs = ", ".join(spec.inputs) or "—"
        rows.append(f"| `{spec.name}` | {needs} | {_words(spec)} |")
    return "\n".join(rows)


def page_with_table(page: str) -> str:
    """`page` with the text between the markers replaced by the current table."""
    if START not in page or END not in page:
        raise ValueError(f"the page has no feature table markers ({START!r} … {END!r})")
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{feature_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--check", action="store_true", help="only say whether the page is up to date")
    args = parser.parse_args(argv)
    page = args.page.read_text()
    written = page_with_table(page)
    if args.check:
        if written != page:
            print(f"{args.page}: the feature table is out of date; run python -m ml.feature_docs {args.page}")
            return 1
        return 0
    args.page.write_text(written)
    print(f"{args.page}: {len(FEATURES)} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""docs/model.md lists the features the code computes: its table is written from the code."""
from __future__ import annotations

from pathlib import Path

from ml.feature_docs import feature_table, main, page_with_table
from ml.features import FEATURE_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_the_model_page_lists_every_feature_the_code_computes():
    page = (ROOT / "docs" / "model.md").read_text()
    assert page_with_table(page) == page, "run: python -m ml.feature_docs docs/model.md"
    for name in FEATURE_NAMES:
        assert f"| `{name}` |" in page


def test_the_check_fails_on_a_stale_page(tmp_path, capsys):
    stale = page_with_table((ROOT / "docs" / "model.md").read_text()).replace(feature_table().splitlines()[-1] + "\n", "")
    page = tmp_path / "model.md"
    page.write_text(stale)
    assert main(["--check", str(page)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main([str(page)]) == 0 and main(["--check", str(page)]) == 0

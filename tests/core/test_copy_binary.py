"""The binary COPY encoders: what PostgreSQL stores is what was encoded, missing values included."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from django.db import connection

from core.db import copy_binary


@pytest.mark.django_db
def test_missing_text_and_json_are_stored_as_null_and_the_other_rows_intact():
    text = pd.Series(["a", None, "ünïcode", ""], dtype=object)
    json_text = pd.Series(['{"x": 1}', None, "{}", "[1]"], dtype=object)
    columns = [[copy_binary.fixed_field(np.arange(1, 5), ">i8")], copy_binary.FIELD_ENCODERS["text"](text),
               copy_binary.FIELD_ENCODERS["jsonb"](json_text), [copy_binary.constant_field(None)],
               [copy_binary.fixed_field(np.array([0, 1, 100, 32767]), ">i2")]]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE encoded (i bigint, t text, j jsonb, n text, s smallint)")
        with cursor.cursor.copy("COPY encoded FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(copy_binary.payload(columns, 4))
        cursor.execute("SELECT i, t, j::text, n, s FROM encoded ORDER BY i")
        rows = cursor.fetchall()
    assert rows == [(1, "a", '{"x": 1}', None, 0), (2, None, None, None, 1), (3, "ünïcode", "{}", None, 100),
                    (4, "", "[1]", None, 32767)]

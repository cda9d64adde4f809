"""Query results into an Arrow table through `COPY (query) TO STDOUT`: many times faster than
fetching rows through a cursor (docs/benchmarks-history.md)."""
from __future__ import annotations

import io
from typing import Sequence

import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection


def copy_frame(sql: str, params: tuple, columns: Sequence[tuple[str, str, pa.DataType]]) -> pa.Table:
    """Run `COPY (query) TO STDOUT` as CSV and parse it with Arrow into `columns`."""
    buffer = io.BytesIO()
    connection.ensure_connection()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(sql, params) as copy:
            for block in copy:
                buffer.write(block)
    if buffer.tell() == 0:
        return pa.table({name: pa.array([], kind) for name, _, kind in columns})
    return pa_csv.read_csv(
        io.BytesIO(buffer.getbuffer()),
        read_options=pa_csv.ReadOptions(column_names=[name for name, _, _ in columns]),
        # COPY writes NULL as an empty unquoted field and "" as a quoted one.
        convert_options=pa_csv.ConvertOptions(
            column_types={name: kind for name, _, kind in columns},
            strings_can_be_null=True, quoted_strings_can_be_null=False,
        ),
    )

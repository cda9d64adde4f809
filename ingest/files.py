"""Import of a company's event history from CSV or Parquet, described by a small mapping.

A mapping (JSON or YAML, see `docs/data.md` and `examples/mappings/`) says which source
column feeds which contract field, how timestamps are written, which column holds the
label and when labels became known (a column, or a fixed delay). Source columns the
mapping neither uses nor ignores are kept under `attributes`.

Rows are checked with the rules of `/score` (`scoring.validation`), vectorised over a chunk
of rows instead of one dict at a time. A rejected row is written to the reject file as it
was read, plus a `reject_reason` naming each field and what is wrong with it. Accepted rows
go through `scoring.store.events.events_store`: every chunk is one transaction, stored whole or
not at all, and rows already stored for the import source are skipped, so importing the
same file twice adds nothing the second time.

One module (past 500 lines) because it is one pipeline per chunk: read, map, check,
reject, store; its stages share the mapping and the reject bookkeeping.
"""
from __future__ import annotations

import csv
import difflib
import ipaddress
import json
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import yaml
from django.db import connection, transaction

from accounts.models import ApiClient
from core import contract
from scoring import validation as rules
from scoring.store.bulk import BulkLoad, bulk_worthwhile, indexes_restore, indexes_set_aside
from scoring.store.events import CHUNK, STORE_SESSIONS, EventBatch, EventWriters, events_batch
from triage.models import Transaction

# Contract fields a column can feed. `scenario` is bookkeeping for evaluation (never a
# feature), which lets synthetic or benchmark data keep its scenario names.
MAPPABLE_FIELDS: tuple[str, ...] = (*contract.COLUMN_NAMES, "scenario")
TIMESTAMP_FORMATS = ("auto", "iso", "epoch_s", "epoch_ms")
FRAUD_VALUES = ("1", "true", "t", "yes", "y", "fraud")
LEGIT_VALUES = ("0", "false", "f", "no", "n", "legit", "legitimate")
REJECT_COLUMN = "reject_reason"
# A problem with the row itself (its field count, a cut end), set by `file_chunks`.
ROW_PROBLEM = "__row_problem__"
_MAPPING_KEYS = ("source", "columns", "defaults", "ignore", "timestamps", "label", "csv")
# Epoch numbers at or above this are milliseconds (1e11 s is the year 5138).
_EPOCH_MS_FROM = 1e11
_ZONE_SUFFIX = re.compile(r"(?:Z|z|[+-]\d{2}:?\d{2})$")
_EPOCH_TEXT = re.compile(r"^-?\d+(?:\.\d+)?$")


class MappingError(ValueError):
    """The mapping is unusable; the message names the key and the problem."""


class ImportFileError(ValueError):
    """The input file cannot be read as CSV or Parquet."""


@dataclass(frozen=True)
class LabelMapping:
    column: str
    known_at: str | None = None  # a source column holding when the label became known
    delay: pd.Timedelta | None = None  # or: known at timestamp + delay
    fraud_values: frozenset[str] = frozenset(FRAUD_VALUES)
    legit_values: frozenset[str] = frozenset(LEGIT_VALUES)


@dataclass(frozen=True)
class Mapping:
    columns: dict[str, str]  # contract field -> source column
    defaults: dict[str, Any] = field(default_factory=dict)  # contract field -> constant
    ignore: tuple[str, ...] = ()
    label: LabelMapping | None = None
    timestamp_format: str = "auto"  # auto | iso | epoch_s | epoch_ms | a strftime pattern
    dayfirst: bool = False
    timezone: str = "UTC"  # for timestamps written without a zone
    source: str = "import"
    delimiter: str = ","
    encoding: str = "utf-8"

    def used_columns(self) -> set[str]:
        used = set(self.columns.values())
        if self.label:
            used.add(self.label.column)
            if self.label.known_at:
                used.add(self.label.known_at)
        return used


@dataclass
class ImportResult:
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    added: int = 0
    rejects_path: Path | None = None
    store_seconds: float = 0.0  # wall time from the first chunk handed to the database to the last stored
    bulk: bool = False  # the secondary indexes were dropped for the load and rebuilt after it
    index_seconds: float = 0.0  # wall time rebuilding them after the load

    @property
    def already_present(self) -> int:
        return self.accepted - self.added


# --------------------------------------------------------------------------- mapping


def mapping_load(path: str | Path) -> Mapping:
    """Read a mapping from a .json, .yaml or .yml file; MappingError says what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise MappingError(f"mapping {path.name}: use a .json, .yaml or .yml file")
    try:
        raw = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise MappingError(f"mapping {path.name} is not valid {'JSON' if suffix == '.json' else 'YAML'}: {exc}") from None
    return mapping_parse(raw)


def mapping_parse(raw: Any) -> Mapping:
    """Check a mapping's structure (not yet against a file) and build a Mapping."""
    if not isinstance(raw, dict):
        raise MappingError("the mapping must be an object with at least `columns`")
    unknown = set(raw) - set(_MAPPING_KEYS)
    if unknown:
        raise MappingError(f"unknown mapping key(s) {_names(unknown)}; known keys: {', '.join(_MAPPING_KEYS)}")
    columns = raw.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingError("`columns` must map contract fields to source columns, e.g. {event_id: TRANSACTION_ID}")
    for name, column in columns.items():
        _check_field(f"columns.{name}", name)
        if not isinstance(column, str) or not column:
            raise MappingError(f"columns.{name}: must name a source column")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise MappingError("`defaults` must map contract fields to constant values, e.g. {currency: EUR}")
    for name, value in defaults.items():
        _check_field(f"defaults.{name}", name)
        if name in columns:
            raise MappingError(f"defaults.{name}: the field is already mapped to column {columns[name]!r}")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise MappingError(f"defaults.{name}: must be a string or a number")
    missing = [name for name in rules.REQUIRED if name not in columns]
    if missing:
        raise MappingError(f"columns: {_names(missing)} must be mapped to a source column (required by the data contract)")

    ignore = raw.get("ignore") or []
    if not isinstance(ignore, list) or not all(isinstance(c, str) for c in ignore):
        raise MappingError("`ignore` must be a list of source column names")

    timestamps = raw.get("timestamps") or {}
    if not isinstance(timestamps, dict) or set(timestamps) - {"format", "dayfirst", "timezone"}:
        raise MappingError("`timestamps` takes `format`, `dayfirst` and `timezone`")
    timestamp_format = str(timestamps.get("format", "auto"))
    if timestamp_format not in TIMESTAMP_FORMATS and "%" not in timestamp_format:
        raise MappingError(
            f"timestamps.format: {timestamp_format!r} is not one of {', '.join(TIMESTAMP_FORMATS)} "
            "nor a strftime pattern such as '%d/%m/%Y %H:%M'"
        )
    timezone = str(timestamps.get("timezone", "UTC"))
    try:
        pd.Timestamp("2026-01-01").tz_localize(timezone)
    except Exception:
        raise MappingError(f"timestamps.timezone: {timezone!r} is not a time zone name such as UTC or Europe/Paris") from None
    dayfirst = timestamps.get("dayfirst", False)
    if not isinstance(dayfirst, bool):
        raise MappingError("timestamps.dayfirst: must be true or false")

    csv_options = raw.get("csv") or {}
    if not isinstance(csv_options, dict) or set(csv_options) - {"delimiter", "encoding"}:
        raise MappingError("`csv` takes `delimiter` and `encoding`")
    source = raw.get("source", "import")
    if not isinstance(source, str) or not source.strip() or len(source) > 100:
        raise MappingError("`source` must be a short name for where the data comes from")

    return Mapping(
        columns=dict(columns),
        defaults=dict(defaults),
        ignore=tuple(ignore),
        label=_label_parse(raw.get("label")),
        timestamp_format=timestamp_format,
        dayfirst=dayfirst,
        timezone=timezone,
        source=source.strip(),
        delimiter=str(csv_options.get("delimiter", ",")),
        encoding=str(csv_options.get("encoding", "utf-8")),
    )


def _label_parse(raw: Any) -> LabelMapping | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MappingError("`label` must be an object such as {column: is_fraud, delay_days: 7}")
    allowed = {"column", "known_at", "delay_days", "delay_hours", "fraud_values", "legit_values"}
    if set(raw) - allowed:
        raise MappingError(f"unknown label key(s) {_names(set(raw) - allowed)}; known: {', '.join(sorted(allowed))}")
    if not isinstance(raw.get("column"), str) or not raw["column"]:
        raise MappingError("label.column: must name the source column holding the label")
    delays = [key for key in ("delay_days", "delay_hours") if key in raw]
    if bool(raw.get("known_at")) + len(delays) != 1:
        raise MappingError(
            "label: give exactly one of `known_at` (the column saying when each label became known), "
            "`delay_days` or `delay_hours` (a fixed delay after the event)"
        )
    delay = None
    if delays:
        value = raw[delays[0]]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or not math.isfinite(value):
            raise MappingError(f"label.{delays[0]}: must be a number of {delays[0][6:]}, zero or more")
        delay = pd.Timedelta(**{delays[0][6:]: value})
    values = {}
    for key, default in (("fraud_values", FRAUD_VALUES), ("legit_values", LEGIT_VALUES)):
        given = raw.get(key, list(default))
        if not isinstance(given, list) or not given:
            raise MappingError(f"label.{key}: must be a non-empty list")
        values[key] = frozenset(_label_text(v) for v in given)
    if values["fraud_values"] & values["legit_values"]:
        raise MappingError(f"label: {_names(values['fraud_values'] & values['legit_values'])} is both fraud and legitimate")
    return LabelMapping(column=raw["column"], known_at=raw.get("known_at") or None, delay=delay, **values)


def mapping_check_columns(mapping: Mapping, file_columns: list[str]) -> list[str]:
    """Check the mapping against a file's header; returns the columns kept as attributes."""
    present = set(file_columns)
    for place, column in _column_references(mapping):
        if column not in present:
            hint = difflib.get_close_matches(column, file_columns, n=1)
            raise MappingError(
                f"{place}: column {column!r} is not in the file"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; the file has: {', '.join(file_columns)}"
            )
    if REJECT_COLUMN in present:
        raise MappingError(f"the file has a column named {REJECT_COLUMN!r}; is it a reject file? Fix its rows and drop that column")
    attributes = [c for c in file_columns if c not in mapping.used_columns() and c not in mapping.ignore]
    if len(attributes) > rules.MAX_ATTRIBUTES:
        raise MappingError(
            f"{len(attributes)} unmapped columns would become attributes, at most {rules.MAX_ATTRIBUTES} are kept; "
            "list the ones you do not need under `ignore`"
        )
    return attributes


def _column_references(mapping: Mapping) -> Iterator[tuple[str, str]]:
    for name, column in mapping.columns.items():
        yield f"columns.{name}", column
    if mapping.label:
        yield "label.column", mapping.label.column
        if mapping.label.known_at:
            yield "label.known_at", mapping.label.known_at


def mapping_warnings(mapping: Mapping, file_columns: list[str]) -> list[str]:
    """What in the mapping does nothing for this file, without stopping the import: an
    `ignore` entry naming a column the file lacks (another export of the same source may
    have it)."""
    missing = [c for c in mapping.ignore if c not in set(file_columns)]
    return [f"ignore: column {c!r} is not in the file; nothing to ignore" for c in missing]


def _check_field(place: str, name: str) -> None:
    if name == "attributes":
        raise MappingError(f"{place}: attributes are filled from the unmapped columns; do not map them")
    if name in ("is_fraud", "label_known_at"):
        raise MappingError(f"{place}: labels are mapped under `label` (column, known_at or delay_days)")
    if name not in MAPPABLE_FIELDS:
        hint = difflib.get_close_matches(name, MAPPABLE_FIELDS, n=1)
        raise MappingError(
            f"{place}: {name!r} is not a field of the data contract"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; fields: {', '.join(MAPPABLE_FIELDS)}"
        )


def _names(values) -> str:
    return ", ".join(repr(v) for v in sorted(values))


# --------------------------------------------------------------------------- files


def _file_kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return "parquet"
    if ".csv" in suffixes or ".tsv" in suffixes or (suffixes and suffixes[-1] == ".txt"):
        return "csv"
    raise ImportFileError(f"{path.name}: use a .csv (optionally compressed, e.g. .csv.gz) or .parquet file")


def file_columns(path: Path, mapping: Mapping) -> list[str]:
    try:
        if _file_kind(path) == "parquet":
            return list(pq.ParquetFile(path).schema_arrow.names)
        return list(pd.read_csv(path, nrows=0, sep=mapping.delimiter, encoding=mapping.encoding).columns)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ImportFileError):
            raise
        raise ImportFileError(f"cannot read {path.name}: {exc}") from None


def file_row_estimate(path: Path) -> int | None:
    """Rows in the file, for the progress bar: exact for Parquet, line count for plain CSV."""
    if _file_kind(path) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix.lower() != ".csv":
        return None  # compressed: not worth decompressing twice
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def file_chunks(path: Path, mapping: Mapping, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The file as frames of at most `chunk_size` rows. CSV cells are read as text, as
    written (no NA guessing), so a rejected row goes back to the reject file unchanged.

    A CSV row the parser cannot take (too few or too many fields), and a last row with no
    line break after it (the file may have been cut mid-row), come with a ROW_PROBLEM
    column saying so; `events_prepare` rejects them, the rest of the file is imported.
    """
    if _file_kind(path) == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
        return
    names = file_columns(path, mapping)
    malformed: list[dict[str, str]] = []
    malformed_text: set[str] = set()

    def invalid_row(row) -> str:
        cells = next(csv.reader([row.text], delimiter=mapping.delimiter), [])
        record = dict(zip(names, cells + [""] * (len(names) - len(cells))))
        record[ROW_PROBLEM] = (f"row: has {row.actual_columns} fields, the header has {row.expected_columns}"
                               + (" (the file may be cut short here)" if row.actual_columns < row.expected_columns else ""))
        malformed.append(record)
        malformed_text.add(row.text.rstrip("\r"))
        return "skip"

    def flush_malformed() -> Iterator[pd.DataFrame]:
        if malformed:
            yield pd.DataFrame(malformed, columns=[*names, ROW_PROBLEM]).fillna("")
            malformed.clear()

    cut_tail = _unterminated_last_line(path, mapping)
    pending: list[pa.RecordBatch] = []
    rows = 0
    try:
        reader = pa_csv.open_csv(
            path,
            # Small blocks on one thread: the first rows are ready at once for the database to
            # start on (8 MB blocks on threads took a second), and the other core stays free for it.
            read_options=pa_csv.ReadOptions(block_size=1 << 20, use_threads=False, encoding=mapping.encoding),
            parse_options=pa_csv.ParseOptions(delimiter=mapping.delimiter, invalid_row_handler=invalid_row),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            yield from flush_malformed()
            # More than a chunk held back, so the file's last row is always in the last chunk.
            while rows > chunk_size:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, chunk_size).to_pandas()
                rest = table.slice(chunk_size)
                pending, rows = rest.to_batches(), rest.num_rows
    except pa.ArrowInvalid as exc:
        raise ImportFileError(f"cannot read {path.name} as CSV: {exc}") from None
    cut_was_malformed = cut_tail in malformed_text
    yield from flush_malformed()
    if rows:
        last = pa.Table.from_batches(pending).to_pandas()
        if cut_tail is not None and not cut_was_malformed:
            last[ROW_PROBLEM] = ""
            last.loc[last.index[-1], ROW_PROBLEM] = (
                "row: the file ends without a line break after this row, so it may be cut short "
                "(if it is whole, end the file with a line break and import again)")
        yield last


def _unterminated_last_line(path: Path, mapping: Mapping) -> str | None:
    """The last line of a plain CSV file when no line break follows it, else None."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return None  # compressed: the decompressor checks the stream's own end
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return None
        handle.seek(max(size - (1 << 16), 0))
        tail = handle.read()
    if tail.endswith(b"\n"):
        return None
    return tail.rsplit(b"\n", 1)[-1].rstrip(b"\r").decode(mapping.encoding, errors="replace")


# --------------------------------------------------------------------------- import


def events_read(path: str | Path, mapping: Mapping, *, chunk_size: int = CHUNK) -> tuple[pd.DataFrame, int]:
    """A file's valid rows in the contract's layout, as the import would store them, without
    storing anything: for backtests and file scoring. Returns the frame (with `seq`, the
    file order) and how many rows were rejected; the checks are the import's."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    attributes = mapping_check_columns(mapping, file_columns(path, mapping))
    frames, rejected, seen_ids = [], 0, set()
    for chunk in file_chunks(path, mapping, chunk_size):
        chunk, clean, reasons = _chunk_checked(chunk, mapping, attributes, seen_ids)
        ok = reasons == ""
        rejected += int((~ok).sum())
        frames.append(clean[ok])
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame["seq"] = np.arange(len(frame), dtype=np.int64)
    if "is_fraud" in frame.columns:
        frame["is_fraud"] = frame["is_fraud"].astype("float64")
    return frame, rejected




def events_import(
    *,
    path: str | Path,
    mapping: Mapping,
    client: ApiClient,
    rejects_path: str | Path | None = None,
    chunk_size: int = CHUNK,
    single_transaction: bool = False,
    bulk: bool | None = None,
    progress: Callable[[int], None] | None = None,
    phase: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import a CSV or Parquet file of events for `client` (an import source).

    Each chunk of `chunk_size` rows is committed on its own (or, with
    `single_transaction`, the whole file at once). On PostgreSQL, unless the caller holds a
    transaction, chunks are stored by STORE_SESSIONS sessions side by side and still
    committed in the file's order (`scoring.store.events.EventWriters`). Rejected rows are written to
    `rejects_path` (default `<file>.rejects.csv` beside the input); when nothing is
    rejected no reject file is left behind.

    `bulk` (PostgreSQL, chunked imports only) drops the table's secondary indexes for the
    load and rebuilds them after it (`scoring.store.bulk`); by default a file is bulk loaded
    when its new rows are at least as many as the table holds and at least BULK_MIN_ROWS. `phase`
    hears what a long step without rows to count is doing ("rebuilding indexes").
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    attributes = mapping_check_columns(mapping, file_columns(path, mapping))
    rejects_path = Path(rejects_path) if rejects_path else path.with_name(_stem(path) + ".rejects.csv")
    partial = rejects_path.with_name(rejects_path.name + ".part")
    result = ImportResult()
    use_copy = connection.vendor == "postgresql"
    try:
        # The first chunks are read and checked while the table is made ready.
        with _prepared_ahead(path, mapping, chunk_size, attributes, client, use_copy) as prepared:
            if bulk is None:
                bulk = bulk_worthwhile(rows=file_row_estimate(path), client=client)
            if not bulk or single_transaction:
                indexes_restore()  # an earlier bulk load that died may have left some out
            # Ids are unique within the file (repeats are rejected), so when the source has
            # nothing stored yet the rows can be copied straight into the table.
            direct = not Transaction.objects.filter(client=client).exists()
            # Other sessions could not see this one's uncommitted rows (nor the source, in a test).
            side_by_side = use_copy and not single_transaction and not connection.in_atomic_block
            writers = EventWriters(sessions=STORE_SESSIONS if side_by_side else 1, direct=direct)
            set_aside = indexes_set_aside(rebuilding=phase) if bulk and not single_transaction else nullcontext(BulkLoad())
            with set_aside as bulk_load, transaction.atomic() if single_transaction else nullcontext(), writers:
                _store_all(prepared, writers, result, partial, progress)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    result.bulk, result.index_seconds = bulk_load.set_aside, bulk_load.rebuild_seconds
    if result.rejected:
        os.replace(partial, rejects_path)
        result.rejects_path = rejects_path
    else:
        rejects_path.unlink(missing_ok=True)  # an old reject file would describe another run
    return result


def _store_all(
    prepared: Iterator[tuple[pd.DataFrame, np.ndarray, EventBatch]],
    writers: EventWriters,
    result: ImportResult,
    partial: Path,
    progress: Callable[[int], None] | None,
) -> None:
    """Write each chunk's rejected rows to `partial` and hand its accepted ones to `writers`."""
    for chunk, reasons, batch in prepared:
        ok = reasons == ""
        if not ok.all():
            rejected = chunk.loc[~ok].assign(**{REJECT_COLUMN: reasons[~ok]})
            rejected.to_csv(partial, mode="a" if result.rejected else "w", header=not result.rejected, index=False)
            result.rejected += int((~ok).sum())
        result.accepted += len(batch.rows)
        result.rows += len(chunk)
        _count_stored(writers.store(batch, rows=len(chunk)) if len(batch.rows) else [(len(chunk), 0)], result, progress)
    _count_stored(writers.finish(), result, progress)
    if writers.began is not None:
        result.store_seconds = time.perf_counter() - writers.began


def _count_stored(stored: list[tuple[int, int]], result: ImportResult, progress: Callable[[int], None] | None) -> None:
    for rows, added in stored:
        result.added += added
        if progress:
            progress(rows)


_DONE = object()


@contextmanager
def _prepared_ahead(
    path: Path, mapping: Mapping, chunk_size: int, attributes: list[str], client: ApiClient, use_copy: bool
) -> Iterator[Iterator[tuple[pd.DataFrame, np.ndarray, EventBatch]]]:
    """(chunk as read, reasons per row, accepted rows ready to store) per chunk, read,
    checked and encoded a few chunks ahead in a helper thread, which starts on entering.

    All of that is CPU work in this process while storing is mostly waiting for the
    database, so the two overlap. The helper never touches the database; the caller stores
    on its own connection, inside its own transactions.
    """
    results: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    seen_ids: set[str] = set()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in file_chunks(path, mapping, chunk_size):
                chunk, clean, reasons = _chunk_checked(chunk, mapping, attributes, seen_ids)
                batch = events_batch(frame=clean.loc[reasons == ""], client=client, use_copy=use_copy)
                if not put((chunk, reasons, batch)):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the caller's thread, raised there
            put(exc)

    helper = threading.Thread(target=produce, name="import-reader", daemon=True)
    helper.start()
    try:
        yield _taken(results)
    finally:
        stop.set()
        helper.join()


def _taken(results: queue.Queue) -> Iterator:
    while (item := results.get()) is not _DONE:
        if isinstance(item, BaseException):
            raise item
        yield item


def _chunk_checked(
    chunk: pd.DataFrame, mapping: Mapping, attributes: list[str], seen_ids: set[str],
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(the chunk as read, its rows in the contract's layout, each row's reasons): the
    contract's checks, the row problems `file_chunks` found, and ids repeated in the file."""
    chunk = chunk.reset_index(drop=True)
    problem = None
    if ROW_PROBLEM in chunk.columns:
        problem = chunk.pop(ROW_PROBLEM).to_numpy(dtype=object)
    clean, reasons = events_prepare(chunk, mapping, attributes)
    if problem is not None:
        # A malformed row's other complaints would only follow from its shifted cells.
        reasons = np.where(problem != "", problem, reasons)
    return chunk, clean, _repeats_rejected(clean, reasons, seen_ids)


def _repeats_rejected(clean: pd.DataFrame, reasons: np.ndarray, seen_ids: set[str]) -> np.ndarray:
    """Reasons with rows whose event_id appeared in an earlier valid row rejected (the first
    valid row wins; later ones would otherwise be skipped silently). Updates `seen_ids`."""
    ok = reasons == ""
    ids = clean["event_id"].to_numpy()
    repeated = ok & clean["event_id"].where(ok).duplicated().to_numpy()
    if not seen_ids.isdisjoint(ids[ok]):  # rare: only then look row by row
        repeated |= np.fromiter((ok[i] and ids[i] in seen_ids for i in range(len(ids))), bool, len(ids))
    seen_ids.update(ids[ok & ~repeated])
    reasons = reasons.copy()
    reasons[repeated] = "event_id: appears earlier in the file"
    return reasons


def _stem(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name[: -len(suffix)]
    return name or path.name


def events_prepare(chunk: pd.DataFrame, mapping: Mapping, attributes: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Map and validate a chunk of source rows.

    Returns the rows in the contract's layout (as `events_batch` takes them) and, per row,
    the reasons it is rejected ("" when it is fine), e.g.
    "amount: must not be negative; timestamp: is required".
    """
    n = len(chunk)
    chunk = chunk.reset_index(drop=True)
    problems: list[tuple[np.ndarray, str]] = []
    clean: dict[str, Any] = {}

    def source(name: str) -> pd.Series | None:
        if name in mapping.columns:
            return chunk[mapping.columns[name]]
        if name in mapping.defaults:
            return pd.Series([mapping.defaults[name]] * n)
        return None

    def reject(mask, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            problems.append((mask, message))

    for name in ("event_id", "account_id", "event_type", "device_id", "country", "merchant_id", "category", "scenario"):
        text = _text(source(name), n)
        limit = rules.TEXT_LIMITS.get(name, 64)
        reject(text.str.len() > limit, f"{name}: must be at most {limit} characters")
        reject(text.str.contains("\x00", regex=False), f"{name}: must not contain the NUL character")
        clean[name] = text
    for name in rules.REQUIRED:
        reject(_text(source(name), n) == "", f"{name}: is required")
    for name in ("timestamp", "account_created_at"):
        clean[name], bad = _times(source(name), n, mapping)
        reject(bad, f"{name}: is not a date-time in the mapping's format ({mapping.timestamp_format})")
        outside = (clean[name] < rules.EARLIEST_TIME) | (clean[name] >= rules.LATEST_TIME)
        reject(outside.fillna(False).to_numpy(), f"{name}: must be from 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z")

    amount, bad = _numbers(source("amount"), n)
    reject(bad, "amount: must be a number")
    reject(amount < 0, "amount: must not be negative")
    reject(amount >= rules.MAX_AMOUNT, f"amount: must be below {rules.MAX_AMOUNT:g}")
    clean["amount"] = amount.round(2)
    for name, low, high in rules.NUMBER_RANGES:
        values, bad = _numbers(source(name), n)
        reject(bad, f"{name}: must be a number")
        reject((values < low) | (values > high), f"{name}: must be between {low:g} and {high:g}")
        clean[name] = values

    currency = _text(source("currency"), n)
    reject((currency != "") & ~currency.str.fullmatch(r"[A-Za-z]{3}"), "currency: must be a three-letter ISO 4217 code such as USD")
    reject(currency.str.fullmatch(r"[A-Za-z]{3}") & ~currency.str.upper().isin(rules.currency_codes()),
           "currency: is not an ISO 4217 currency code (e.g. USD, EUR, GBP)")
    kinds = rules.event_types()
    reject((clean["event_type"] != "") & ~clean["event_type"].isin(kinds),
           f"event_type: must be one of {', '.join(kinds)} (a deployment adds types in EVENT_TYPES)")
    clean["currency"] = currency.str.upper()
    status = _text(source("payment_status"), n)
    reject((status != "") & ~status.isin(rules.PAYMENT_STATUSES), f"payment_status: must be one of {', '.join(rules.PAYMENT_STATUSES)}")
    clean["payment_status"] = status
    clean["ip_address"], bad = _ips(source("ip_address"), n)
    reject(bad, "ip_address: must be an IPv4 or IPv6 address (dotted, or a number)")

    clean["attributes"], attribute_problems = _attributes(chunk, attributes)
    for mask, message in attribute_problems:
        reject(mask, message)

    is_fraud = pd.Series(pd.NA, index=range(n), dtype="boolean")
    known_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    if mapping.label:
        label = mapping.label
        text = _text(chunk[label.column], n)
        meaning = {value: _label_meaning(value, label) for value in pd.unique(text)}
        fraud = text.isin([value for value, known in meaning.items() if known is True]).to_numpy()
        legit = text.isin([value for value, known in meaning.items() if known is False]).to_numpy()
        is_fraud = pd.Series(pd.arrays.BooleanArray(fraud, ~(fraud | legit)))
        allowed = ", ".join(sorted(label.fraud_values | label.legit_values))
        reject((text != "") & is_fraud.isna(), f"is_fraud: {label.column!r} must be one of {allowed} (or empty for unlabeled)")
        if label.known_at:
            known_at, bad = _times(chunk[label.known_at], n, mapping)
            reject(bad, "label_known_at: is not a date-time in the mapping's format")
            reject(is_fraud.notna() & known_at.isna() & ~bad, "label_known_at: is required for a labeled row")
        else:
            known_at = clean["timestamp"] + label.delay
        reject(known_at < clean["timestamp"], "label_known_at: must not be before timestamp")
        known_at = known_at.where(is_fraud.notna())
    clean["is_fraud"] = is_fraud
    clean["label_known_at"] = known_at
    # A scenario names how a fraud was committed; a legitimate row has none.
    clean["scenario"] = clean["scenario"].where(is_fraud.fillna(False).astype(bool), "")
    return pd.DataFrame(clean), _reasons(n, problems)


def _reasons(n: int, problems: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """Per row, its problems joined with "; " ("" for a good row). Only bad rows cost time."""
    reasons = np.full(n, "", dtype=object)
    for mask, message in problems:
        for row in np.flatnonzero(mask):
            reasons[row] = f"{reasons[row]}; {message}" if reasons[row] else message
    return reasons


def _label_meaning(value: str, label: LabelMapping) -> bool | None:
    text = _label_text(value)
    if text in label.fraud_values:
        return True
    if text in label.legit_values:
        return False
    return None


def _text(values: pd.Series | None, n: int) -> pd.Series:
    """Text ("" for missing, surrounding spaces removed); integral numbers without a trailing
    .0, since ids are often numbers."""
    if values is None:
        return pd.Series("", index=range(n), dtype="str")
    values = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "true", False: "false"}).fillna("").astype("str")
    if pd.api.types.is_float_dtype(values):
        integral = values.notna() & np.isfinite(values) & (values == np.floor(values)) & (values.abs() < 2**53)
        text = values.astype("str").where(values.notna(), "")
        text[integral] = values[integral].astype("int64").astype("str")
        return text
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.map(lambda v: "" if pd.isna(v) else v.isoformat()).astype("str")
    if not pd.api.types.is_string_dtype(values) or values.dtype == object:
        values = values.astype("str")
    return values.fillna("").str.strip()


def _numbers(values: pd.Series | None, n: int) -> tuple[pd.Series, np.ndarray]:
    """Float64 with NaN for missing, and which cells hold something that is not a finite number."""
    if values is None:
        return pd.Series(np.nan, index=range(n)), np.zeros(n, bool)
    values = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=range(n)), values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        present = numbers.notna().to_numpy()
    else:
        text = _text(values, n)
        present = (text != "").to_numpy()
        # Arrow's parser is fast but all-or-nothing; pandas then finds the bad cells.
        numbers = _arrow_numbers(text)
        if numbers is None:
            numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    bad = present & ~np.isfinite(numbers.to_numpy())
    return numbers.where(~bad), bad


def _arrow_numbers(text: pd.Series) -> pd.Series | None:
    """Float64 (NaN for "") when every non-empty cell parses as a number, else None."""
    strings = pa.array(text, type=pa.string())
    try:
        return pd.Series(pc.cast(pc.if_else(pc.equal(strings, ""), pa.scalar(None, pa.string()), strings), pa.float64()), dtype="float64")
    except pa.ArrowInvalid:
        return None


def _times(values: pd.Series | None, n: int, mapping: Mapping) -> tuple[pd.Series, np.ndarray]:
    """UTC datetimes (NaT for empty cells) and which non-empty cells could not be read."""
    out = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    if values is None:
        return out, np.zeros(n, bool)
    values = values.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _to_utc(values, mapping), np.zeros(n, bool)
    fmt = mapping.timestamp_format
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        present = values.notna().to_numpy()
        epoch = values.astype("float64")
        numeric = present
        text = None
    else:
        text = _text(values, n)
        present = (text != "").to_numpy()
        if fmt in ("auto", "iso") and not mapping.dayfirst and (zoned := _arrow_zoned_times(text)) is not None:
            return zoned, np.zeros(n, bool)
        numeric = np.zeros(n, bool)
        if fmt in ("auto", "epoch_s", "epoch_ms"):
            numeric = text.str.fullmatch(_EPOCH_TEXT.pattern).to_numpy(dtype=bool)
        epoch = pd.to_numeric(text.where(numeric, None), errors="coerce") if numeric.any() else None
    if numeric.any():
        ms = epoch.astype("float64")
        if fmt == "epoch_s":
            ms = ms * 1000
        elif fmt != "epoch_ms":  # auto: seconds unless the number is too big to be seconds
            ms = ms.where(ms.abs() >= _EPOCH_MS_FROM, ms * 1000)
        out[numeric] = pd.to_datetime(ms[numeric].round(), unit="ms", utc=True, errors="coerce").astype(out.dtype)
    rest = present & ~numeric
    if text is not None and rest.any():
        out[rest] = _parse_text_times(text[rest], mapping)
    return out, present & out.isna().to_numpy()


def _arrow_zoned_times(text: pd.Series) -> pd.Series | None:
    """UTC datetimes (NaT for "") when every non-empty cell is ISO 8601 with a zone, else None.

    Arrow's parser is many times faster than pandas' and reads those cells the same way; it
    is all-or-nothing, so a file with other cells takes the general path."""
    strings = pa.array(text, type=pa.string())
    try:
        times = pc.cast(pc.if_else(pc.equal(strings, ""), pa.scalar(None, pa.string()), strings), pa.timestamp("us", "UTC"))
    except pa.ArrowInvalid:
        return None
    return times.to_pandas().astype("datetime64[us, UTC]")


def _parse_text_times(text: pd.Series, mapping: Mapping) -> pd.Series:
    fmt = mapping.timestamp_format
    if "%" in fmt:
        return _to_utc(pd.to_datetime(text, format=fmt, errors="coerce", utc="%z" in fmt), mapping)
    options = {"format": "mixed", "dayfirst": True} if mapping.dayfirst else {"format": "ISO8601"}
    zoned = text.str.contains(_ZONE_SUFFIX.pattern, regex=True).to_numpy(dtype=bool)
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if zoned.any():
        result[zoned] = pd.to_datetime(text[zoned], errors="coerce", utc=True, **options).astype(result.dtype)
    if not zoned.all():
        result[~zoned] = _to_utc(pd.to_datetime(text[~zoned], errors="coerce", **options), mapping)
    return result


def _to_utc(parsed: pd.Series, mapping: Mapping) -> pd.Series:
    """Times without a zone are in the mapping's `timezone`; all come back in UTC."""
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(mapping.timezone, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_DOTTED = rf"{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}"


def _ips(values: pd.Series | None, n: int) -> tuple[pd.Series, np.ndarray]:
    """Normalised IP text (NaN when empty) and which cells are not an address.

    Plain dotted IPv4 is checked in one vectorised pass; anything else (IPv6, an IPv4 as a
    32-bit number) is checked by `ipaddress`, once per distinct value."""
    text = _text(values, n)
    present = (text != "").to_numpy()
    dotted = text.str.fullmatch(_IPV4_DOTTED).to_numpy(dtype=bool)
    result = text.where(dotted)
    other = present & ~dotted
    if other.any():
        normal = {value: _ip_normal(value) for value in pd.unique(text[other])}
        result[other] = text[other].map(normal)
    return result, present & result.isna().to_numpy()


def _ip_normal(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(int(value) if value.isdigit() else value))
    except ValueError:
        return None


def _attributes(chunk: pd.DataFrame, columns: list[str]) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """JSON text per row from the unmapped columns, and the problems found.

    A column whose every non-empty cell is a number becomes numbers; any other becomes
    text. Empty cells are left out of the row's attributes."""
    n = len(chunk)
    problems: list[tuple[np.ndarray, str]] = []
    if not columns:
        return pd.Series("{}", index=range(n), dtype="str"), problems
    pieces = []  # per column: `"name": value` where the cell is not empty, else null
    for column in columns:
        values = chunk[column]
        text = _text(values, n)
        present = (text != "").to_numpy()
        if pd.api.types.is_bool_dtype(values):
            numbers = None
        elif pd.api.types.is_numeric_dtype(values):
            numbers = values.reset_index(drop=True).astype("float64")
        else:
            numbers = _arrow_numbers(text)
        if numbers is not None and present.any() and np.isfinite(numbers[present]).all():
            # Arrow writes the shortest text that reads back as the same float: valid JSON.
            encoded = pc.cast(pa.array(numbers, type=pa.float64()), pa.string())
        else:
            too_long = (text.str.len() > rules.MAX_ATTRIBUTE_TEXT).to_numpy()
            if too_long.any():
                problems.append((too_long, f"attributes.{column}: must be at most {rules.MAX_ATTRIBUTE_TEXT} characters"))
            encoded = _json_strings(text)
        key = json.dumps(str(column)) + ": "
        pieces.append(pc.if_else(pa.array(present), pc.binary_join_element_wise(key, encoded, ""), pa.scalar(None, pa.string())))
    members = pc.binary_join_element_wise(*pieces, ", ", null_handling="skip")
    return pd.Series(pc.binary_join_element_wise("{", members, "}", ""), dtype="str"), problems


def _json_strings(text: pd.Series) -> pa.Array:
    """Each cell as a JSON string, encoded once per distinct value."""
    strings = pa.array(text, type=pa.string())
    codes = (strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings).dictionary_encode()
    return pa.array([json.dumps(value) for value in codes.dictionary.to_pylist()], pa.string()).take(codes.indices)


def _label_text(value: Any) -> str:
    text = str(value).strip().lower()
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text

"""PostgreSQL's binary COPY format, encoded column-wise with Arrow and numpy.

A payload is the signature, then per row the number of fields and each field as its length
and PostgreSQL's wire form of the value (length -1 for NULL), then -1 as the end.
PostgreSQL reads it without parsing text, which is most of its time per row in CSV
(timestamps, numbers, JSON; see docs/benchmarks-history.md). Each encoder turns one column into one
or more pieces (a length, a value), and `payload` joins the pieces of each row in one pass.
"""
from __future__ import annotations

import ipaddress
import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The signature, no flags, no header extension.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = struct.pack(">h", -1)
NULL_FIELD = pa.scalar(struct.pack(">i", -1), pa.large_binary())
POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, where PostgreSQL's times count from
_NUMERIC_NEGATIVE = 0x4000
_INET_V4 = (2, 32)  # PostgreSQL's address family and bits for IPv4
_INET_V6 = (3, 128)
_DOTTED_V4 = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"


def fixed_field(values: np.ndarray, dtype: str, present: np.ndarray | None = None) -> pa.Array:
    """Fixed-width values as binary fields: length, then the value big-endian; NULL where not present."""
    packed = np.empty(len(values), [("length", ">i4"), ("value", dtype)])
    packed["length"] = np.dtype(dtype).itemsize
    packed["value"] = values
    return _nulls_set(_binary(packed), present)


def constant_field(value: bytes | None) -> pa.Scalar:
    """The same field on every row, already in PostgreSQL's wire form (None for NULL): one
    piece for any number of rows."""
    if value is None:
        return NULL_FIELD
    return pa.scalar(struct.pack(">i", len(value)) + value, pa.large_binary())


def _binary(packed: np.ndarray) -> pa.Array:
    """A numpy array of fixed-size records as Arrow binary values, one per record (64-bit
    offsets throughout, so that no chunk is too big to join)."""
    fixed = pa.Array.from_buffers(pa.binary(packed.itemsize), len(packed), [None, pa.py_buffer(packed)])
    return fixed.cast(pa.large_binary())


def _nulls_set(field: pa.Array, present: np.ndarray | None) -> pa.Array:
    if present is None or present.all():
        return field
    return pc.if_else(pa.array(present), field, NULL_FIELD)


def _arrow_text(values: pd.Series) -> pa.Array:
    """Text (null where missing) as one Arrow array; pandas' own Arrow strings are not copied."""
    text = pa.array(values, type=pa.string(), from_pandas=True)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _text_field(values: pd.Series) -> list:
    return _with_nulls(_arrow_text(values).cast(pa.large_binary()))


def _with_nulls(text: pa.Array, prefix: list | None = None, extra: int = 0) -> list:
    """Length, `prefix` pieces and the bytes of each value; a missing value is a NULL field
    (and empty pieces), which keeps every row's field count."""
    prefix = prefix or []
    if not text.null_count:
        return [_lengths(text, extra=extra), *prefix, text]
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    filled = pc.fill_null(text, pa.scalar(b"", pa.large_binary()))
    empty = pa.scalar(b"", pa.large_binary())
    return [_nulls_set(_lengths(filled, extra=extra), present),
            *[pc.if_else(pa.array(present), piece, empty) for piece in prefix], filled]


def _lengths(values: pa.Array, extra: int = 0) -> pa.Array:
    return _binary((np.asarray(pc.binary_length(values)) + extra).astype(">i4"))


def _jsonb_field(values: pd.Series) -> list:
    """JSON text after jsonb's format version, 1."""
    return _with_nulls(_arrow_text(values).cast(pa.large_binary()), [pa.scalar(b"\x01", pa.large_binary())], extra=1)


def microseconds(values: pd.Series) -> np.ndarray:
    """datetime64[us, UTC] as microseconds since PostgreSQL's epoch (meaningless where NaT)."""
    return values.array.asi8 - POSTGRES_EPOCH_US


def _time_field(values: pd.Series) -> list:
    return [fixed_field(microseconds(values), ">i8", values.notna().to_numpy())]


def _float_field(values: pd.Series) -> list:
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    return [fixed_field(numbers, ">f8", ~np.isnan(numbers))]


def _boolean_field(values: pd.Series) -> list:
    return [fixed_field(values.to_numpy(dtype=bool, na_value=False), "u1", values.notna().to_numpy())]


def _numeric_field(values: pd.Series) -> list:
    """numeric(14, 2): sign, a weight of 2 and four base-10,000 digits, the last holding the cents.

    Below 10^12 (the column's limit) three integer digits are enough; PostgreSQL drops
    leading and trailing zero digits itself."""
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(numbers)
    cents = np.rint(np.abs(np.where(present, numbers, 0)) * 100).astype(np.int64)
    units = cents // 100
    packed = np.empty(len(numbers), [("length", ">i4"), ("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">i2"),
                                     ("dscale", ">i2"), ("digits", ">i2", 4)])
    packed["length"] = packed.itemsize - 4
    packed["ndigits"], packed["weight"], packed["dscale"] = 4, 2, 2
    packed["sign"] = np.where(numbers < 0, _NUMERIC_NEGATIVE, 0)
    packed["digits"] = np.stack([units // 10**8, units // 10**4 % 10**4, units % 10**4, cents % 100 * 100], axis=1)
    return [_nulls_set(_binary(packed), present)]


def _inet_field(values: pd.Series) -> list:
    """inet: address family, prefix bits, not-a-network flag, address length, the address bytes.

    Dotted IPv4 is split column-wise; anything else goes through `ipaddress` once per
    distinct value (ValueError for what is not an address, as PostgreSQL would refuse it)."""
    text = _arrow_text(values)
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    dotted = pc.fill_null(pc.match_substring_regex(text, _DOTTED_V4), False).to_numpy(zero_copy_only=False)
    if not (dotted == present).all():
        return [_inet_field_by_value(values)]
    try:
        octets = pc.list_flatten(pc.split_pattern(pc.fill_null(text, "0.0.0.0"), ".")).cast(pa.uint8())
    except pa.ArrowInvalid:  # an octet above 255: `ipaddress` says which value is wrong
        return [_inet_field_by_value(values)]
    packed = np.empty(len(text), [("length", ">i4"), ("header", "u1", 4), ("address", "u1", 4)])
    packed["length"] = packed.itemsize - 4
    packed["header"] = (*_INET_V4, 0, 4)
    packed["address"] = np.asarray(octets).reshape(-1, 4)
    return [_nulls_set(_binary(packed), present)]


def _inet_field_by_value(values: pd.Series) -> pa.Array:
    encoded = {value: _inet_bytes(value) for value in values.dropna().unique()}
    return pc.fill_null(pa.array(values.map(encoded), type=pa.large_binary(), from_pandas=True), NULL_FIELD)


def _inet_bytes(text: str) -> bytes:
    address = ipaddress.ip_address(text)
    family, bits = _INET_V4 if address.version == 4 else _INET_V6
    packed = address.packed
    return struct.pack(">iBBBB", 4 + len(packed), family, bits, 0, len(packed)) + packed


FIELD_ENCODERS = {
    "text": _text_field,
    "timestamptz": _time_field,
    "numeric(14, 2)": _numeric_field,
    "inet": _inet_field,
    "double precision": _float_field,
    "jsonb": _jsonb_field,
    "boolean": _boolean_field,
}


def payload(columns: list[list[pa.Array]], rows: int) -> bytes:
    """The COPY payload of `rows` rows whose fields are `columns` (each an encoder's pieces),
    in the order of the COPY's column list."""
    return b"".join((COPY_HEADER, rows_data(columns, rows), COPY_TRAILER))


def rows_data(columns: list[list[pa.Array]], rows: int) -> memoryview | bytes:
    """The rows of a payload alone: a COPY may be sent as COPY_HEADER, the rows of any
    number of parts, then COPY_TRAILER."""
    if not rows:
        return b""
    pieces = [pa.scalar(struct.pack(">h", len(columns)), pa.large_binary())]
    for column in columns:
        pieces.extend(column)
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.large_binary()))
    offsets, data = joined.buffers()[1:]
    return memoryview(data)[: int(np.frombuffer(offsets, np.int64)[rows])]

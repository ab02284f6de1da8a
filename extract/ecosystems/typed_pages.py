"""Pages that follow the contract, decoded straight into typed records and Arrow columns.

msgspec decodes a page into one small struct per record, checking every declared type on
the way; no dict per record, and each list field stays the text it was received as.
A page that breaks the contract anywhere (a wrongly typed value, a missing or repeated id,
a list that is no list, a missing required field, an unparseable timestamp) is not shaped
here: `helpers.records_to_table` shapes it from dicts and reports every problem.
"""

from functools import cache
from operator import attrgetter
from typing import Any

import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .settings import EndpointSpec

_NULL = msgspec.Raw(b"null")
_NULL_TEXT = pa.scalar(b"null", pa.binary())
# Bytes after which a list's text may differ from the compact form the dict path writes
# (whitespace, escapes, exponents); such a list is written again in that form.
_NOT_COMPACT = (b" ", b"\n", b"\r", b"\t", b"\\", b"e+", b"e-", b"E")


class _NotAList(Exception):
    """A list field holds something else: the dict path loads it as null and says so."""


def decode_page(content: bytes, endpoint: EndpointSpec) -> tuple[list[Any], str | None] | None:
    """The page's typed records and next cursor, or None when it needs the dict path."""
    try:
        page = _page_decoder(endpoint).decode(content)
    except msgspec.DecodeError:  # malformed JSON, or a value of another type than declared
        return None
    return page.data, page.next_cursor


def typed_records_table(records: list[Any], endpoint: EndpointSpec) -> pa.Table | None:
    """The records of `decode_page` as an Arrow table, or None when one needs the dict path."""
    ids = list(map(attrgetter("id"), records))
    if "" in ids or len(set(ids)) != len(ids):
        return None
    schema = endpoint.arrow_schema
    columns: dict[str, pa.Array] = {"id": pa.array(ids, pa.string())}
    for name in _strings_but_id(endpoint):
        columns[name] = pa.array(list(map(attrgetter(name), records)), pa.string())
    for obj, keys in endpoint.objects:
        parents = list(map(attrgetter(obj), records))
        for key in keys:
            values = [None if parent is None else getattr(parent, key) for parent in parents]
            columns[f"{obj}__{key}"] = pa.array(values, pa.string())
    # no NaN or infinity: msgspec refuses numbers beyond a double's range
    for name in endpoint.doubles:
        columns[name] = pa.array(list(map(attrgetter(name), records)), pa.float64())
    try:
        for name in endpoint.json_lists:
            columns[name] = _list_texts(list(map(attrgetter(name), records)))
        for name in endpoint.timestamps:
            texts = pa.array(list(map(attrgetter(name), records)), pa.string())
            columns[name] = pc.cast(texts, schema.field(name).type)
    except (_NotAList, orjson.JSONDecodeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    table = pa.Table.from_arrays([columns[field.name] for field in schema], schema=schema)
    return table if _has_required_values(table, endpoint.required) else None


def _list_texts(raws: list[msgspec.Raw]) -> pa.Array:
    """Each list's text as received (null for null), compact as the dict path writes it."""
    texts = list(map(bytes, raws))
    received = pa.array(texts, pa.binary())
    is_null = pc.equal(received, _NULL_TEXT)
    if not pc.all(pc.or_(is_null, pc.starts_with(received, pattern="["))).as_py():
        raise _NotAList
    if _is_marked(b"\x00".join(texts)):  # rare: some list is not written compact
        received = pa.array([_compact(text) for text in texts], pa.binary())
    return pc.if_else(is_null, pa.scalar(None, pa.string()), received.cast(pa.string()))


def _is_marked(text: bytes) -> bool:
    return any(text.find(mark) >= 0 for mark in _NOT_COMPACT)


def _compact(text: bytes) -> bytes:
    return orjson.dumps(orjson.loads(text)) if _is_marked(text) else text


def _has_required_values(table: pa.Table, required: tuple[str, ...]) -> bool:
    return not any(pc.any(missing_values(table, column)).as_py() for column in required)


def missing_values(table: pa.Table, column: str) -> pa.ChunkedArray:
    """Where a required field is missing (a tombstone guarantees only its timestamps)."""
    missing = pc.is_null(table[column])
    if column in ("updated_at", "deleted_at"):
        return missing
    return pc.and_(missing, pc.is_null(table["deleted_at"]))


def _strings_but_id(endpoint: EndpointSpec) -> list[str]:
    return [name for name in endpoint.strings if name != "id"]


@cache
def _page_decoder(endpoint: EndpointSpec) -> msgspec.json.Decoder:
    record = _record_struct(endpoint)
    page = msgspec.defstruct(
        f"{endpoint.name}_page", [("data", list[record]), ("next_cursor", str | None, None)]
    )
    return msgspec.json.Decoder(page)


def _record_struct(endpoint: EndpointSpec) -> type[msgspec.Struct]:
    """One record as declared: unknown fields ignored, any declared one may be absent but id."""
    fields: list[Any] = [("id", str)]
    fields += [(name, str | None, None) for name in _strings_but_id(endpoint)]
    for obj, keys in endpoint.objects:
        nested = msgspec.defstruct(
            f"{endpoint.name}_{obj}", [(key, str | None, None) for key in keys]
        )
        fields.append((obj, nested | None, None))
    fields += [(name, float | None, None) for name in endpoint.doubles]
    fields += [(name, msgspec.Raw, _NULL) for name in endpoint.json_lists]
    fields += [(name, str | None, None) for name in endpoint.timestamps]
    return msgspec.defstruct(f"{endpoint.name}_record", fields)

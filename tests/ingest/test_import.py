"""import_events: a customer's file, mapped onto the contract, stored once, bad rows explained."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pandas as pd
import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from ingest import files as importing
from ingest.files import events_prepare, mapping_parse
from scoring.store import events as loaders
from scoring.validation import validate_event
from synthetic.generator import write_world
from tests.support.imports import GENERATOR_MAPPING, ROOT, crash_on_second_chunk, generator_csv, run_import, stored, world
from triage.models import Transaction

pytestmark = pytest.mark.django_db

HANDBOOK_MAPPING = ROOT / "examples" / "mappings" / "fraud-handbook.json"
HANDBOOK_SAMPLE = ROOT / "examples" / "fraud-handbook-sample.csv"


# --------------------------------------------------------------------------- round trip


def test_generator_csv_round_trips_exactly(tmp_path):
    expected = world().sort_values("event_id").reset_index(drop=True)
    output = run_import(generator_csv(tmp_path))
    assert f"accepted {len(expected):,} (added {len(expected):,}, already present 0), rejected 0" in output

    got = stored("synthetic-import")
    assert list(got["event_id"]) == list(expected["event_id"])
    for column in ("account_id", "event_type", "currency", "payment_status", "device_id", "ip_address", "country",
                   "merchant_id", "category"):
        assert list(got[column].fillna("")) == list(expected[column]), column
    for column in ("timestamp", "account_created_at", "label_known_at"):
        assert (pd.to_datetime(got[column], utc=True) == expected[column]).all(), column
    amounts = got["amount"].map(lambda v: None if v is None else float(v))
    assert amounts.fillna(-1).tolist() == expected["amount"].round(2).fillna(-1).tolist()
    for column in ("latitude", "longitude", "session_duration"):
        assert got[column].fillna(-999).tolist() == pytest.approx(expected[column].fillna(-999).tolist()), column
    assert got["is_fraud"].tolist() == expected["is_fraud"].tolist()
    assert set(got.loc[got["is_fraud"], "scenario"]) == set(expected.loc[expected["is_fraud"], "scenario"])
    assert (got["label_source"] == "import").all()
    # `period` is no contract field: it is kept as an attribute.
    assert got["attributes"].tolist() == [{"period": period} for period in expected["period"]]


def test_reimporting_the_same_file_adds_nothing(tmp_path):
    path = generator_csv(tmp_path)
    run_import(path)
    count = Transaction.objects.count()
    output = run_import(path)
    assert f"added 0, already present {count:,}" in output
    assert Transaction.objects.count() == count


def test_parquet_imports_like_csv(tmp_path):
    run_import(write_world(world(), tmp_path / "world.csv"), source="from-csv")
    run_import(write_world(world(), tmp_path / "world.parquet"), source="from-parquet")
    from_csv, from_parquet = stored("from-csv"), stored("from-parquet")
    assert len(from_parquet) == len(world())
    columns = ["event_id", "account_id", "timestamp", "amount", "ip_address", "latitude", "is_fraud",
               "label_known_at", "scenario", "attributes"]
    pd.testing.assert_frame_equal(from_csv[columns], from_parquet[columns])


def test_the_sqlite_fallback_stores_the_same_rows(tmp_path):
    frame = world().head(300)
    client_copy = _source("copy")
    client_orm = _source("orm")
    assert loaders.events_load(frame=frame, client=client_copy, use_copy=True) == 300
    assert loaders.events_load(frame=frame, client=client_orm, use_copy=False) == 300
    assert loaders.events_load(frame=frame, client=client_orm, use_copy=False) == 0
    columns = ["event_id", "timestamp", "amount", "ip_address", "session_duration", "is_fraud", "label_known_at",
               "label_source", "scenario", "attributes", "currency"]
    pd.testing.assert_frame_equal(stored("copy")[columns], stored("orm")[columns])


def test_binary_copy_stores_edge_values_as_the_orm_does():
    """IPv6 and missing addresses, amounts at the column's limits or missing, missing numbers and
    times, unlabeled rows and non-ASCII ids travel in COPY's binary format unchanged."""
    frame = world().head(6).copy()
    frame["event_id"] = ["edge-é✓-0", "edge-1", "edge-2", "edge-3", "edge-4", "edge-5"]
    frame["ip_address"] = ["2001:db8::1", None, "10.0.0.1", "::ffff:1.2.3.4", "255.255.255.255", "0.0.0.0"]
    frame["amount"] = [999_999_999_999.99, None, 0.01, -12.5, 0.0, 1234.5]
    frame.loc[[1, 3], ["latitude", "session_duration", "account_created_at"]] = None
    frame["is_fraud"] = frame["is_fraud"].astype("boolean")
    frame.loc[[2, 4], ["is_fraud", "label_known_at"]] = None
    assert loaders.events_load(frame=frame, client=_source("binary"), use_copy=True) == 6
    assert loaders.events_load(frame=frame, client=_source("orm"), use_copy=False) == 6
    columns = ["event_id", "timestamp", "amount", "ip_address", "latitude", "session_duration", "account_created_at",
               "is_fraud", "label_known_at", "label_source", "attributes"]
    pd.testing.assert_frame_equal(stored("binary")[columns], stored("orm")[columns])


def _source(name):
    from accounts.services import import_source_get_or_create

    return import_source_get_or_create(name=name)


# --------------------------------------------------------------------------- rejects


def test_bad_rows_go_to_the_reject_file_with_their_reasons(tmp_path):
    path = generator_csv(tmp_path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.loc[3, "timestamp"] = "yesterday at noon"
    raw.loc[4, "amount"] = "-12.50"
    raw.loc[5, "account_id"] = ""
    raw.loc[6, "ip_address"] = "300.1.2.3"
    raw.loc[7, "amount"] = "-1"
    raw.loc[7, "currency"] = "euro"
    raw.to_csv(path, index=False)
    bad_ids = set(raw.loc[3:7, "event_id"])

    output = run_import(path)
    assert f"accepted {len(raw) - 5:,}" in output and "rejected 5" in output
    rejects = pd.read_csv(tmp_path / "world.rejects.csv", dtype=str, keep_default_na=False)
    assert list(rejects.columns) == list(raw.columns) + ["reject_reason"]
    reasons = dict(zip(rejects["event_id"], rejects["reject_reason"]))
    assert set(reasons) == bad_ids
    assert reasons[raw.loc[3, "event_id"]].startswith("timestamp: is not a date-time")
    assert reasons[raw.loc[4, "event_id"]] == "amount: must not be negative"
    assert reasons[raw.loc[5, "event_id"]] == "account_id: is required"
    assert reasons[raw.loc[6, "event_id"]].startswith("ip_address: must be an IPv4 or IPv6 address")
    assert reasons[raw.loc[7, "event_id"]] == (
        "amount: must not be negative; currency: must be a three-letter ISO 4217 code such as USD"
    )
    # The rejected row is written back as it was read.
    assert rejects.loc[rejects["event_id"] == raw.loc[4, "event_id"], "amount"].item() == "-12.50"
    assert not Transaction.objects.filter(event_id__in=bad_ids).exists()
    assert Transaction.objects.count() == len(raw) - 5


def test_a_clean_import_leaves_no_reject_file(tmp_path):
    path = generator_csv(tmp_path)
    (tmp_path / "world.rejects.csv").write_text("from an earlier run\n")
    run_import(path)
    assert not (tmp_path / "world.rejects.csv").exists()


def test_an_event_id_repeated_in_the_file_is_rejected_not_stored_twice(tmp_path):
    frame = world().head(50).copy()
    frame.loc[10, "event_id"] = frame.loc[3, "event_id"]
    path = generator_csv(tmp_path, frame)
    output = run_import(path, chunk_size=5)  # the repeat lands in another chunk
    assert "accepted 49" in output and "rejected 1" in output
    rejects = pd.read_csv(tmp_path / "world.rejects.csv", dtype=str)
    assert rejects["reject_reason"].tolist() == ["event_id: appears earlier in the file"]


def test_importer_and_score_api_reject_the_same_events():
    rows = [
        {"event_id": "a", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "amount": "10"},
        {"event_id": "b", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "amount": "-1"},
        {"event_id": "c", "account_id": "", "timestamp": "2026-11-20T10:00:00Z", "amount": ""},
        {"event_id": "d", "account_id": "x", "timestamp": "not a time", "amount": "3"},
        {"event_id": "e", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "latitude": "91"},
        {"event_id": "f", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "currency": "EURO"},
        {"event_id": "g", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "payment_status": "ok"},
        {"event_id": "h", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "ip_address": "1.2.3"},
        {"event_id": "i" * 129, "account_id": "x", "timestamp": "2026-11-20T10:00:00Z"},
        {"event_id": "j", "account_id": "x", "timestamp": "2026-11-20T10:00:00+02:00", "longitude": "-180"},
        {"event_id": "k", "account_id": "x", "timestamp": "1969-12-31T23:59:59Z"},
        {"event_id": "l", "account_id": "x", "timestamp": "2100-01-01T00:00:00Z"},
        {"event_id": "m", "account_id": "x\x00y", "timestamp": "2026-11-20T10:00:00Z"},
        {"event_id": "n", "account_id": "x", "timestamp": "1970-01-01T00:00:00Z"},
        {"event_id": "o", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "currency": "ABC"},
        {"event_id": "p", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "event_type": "refund"},
        {"event_id": "q", "account_id": "x", "timestamp": "2026-11-20T10:00:00Z", "event_type": "login", "currency": "chf"},
    ]
    fields = ("event_id", "account_id", "timestamp", "amount", "latitude", "longitude", "currency",
              "payment_status", "ip_address", "event_type")
    chunk = pd.DataFrame([{f: row.get(f, "") for f in fields} for row in rows], dtype="str")
    mapping = mapping_parse({"columns": {f: f for f in fields}})
    _, reasons = events_prepare(chunk, mapping, [])
    api_rejects = []
    for row in rows:
        body = {k: (float(v) if k in ("amount", "latitude", "longitude") else v) for k, v in row.items() if v != ""}
        api_rejects.append(bool(validate_event(body)[1]))
    assert [bool(r) for r in reasons] == api_rejects
    assert api_rejects == [False, True, True, True, True, True, True, True, True, False, True, True, True, False, True, True, False]


# --------------------------------------------------------------------------- formats


def test_common_timestamp_formats_and_numeric_ips_are_understood():
    chunk = pd.DataFrame(
        {
            "id": ["1", "2", "3", "4", "5"],
            "who": ["a"] * 5,
            "when": ["2026-11-23T14:05:00Z", "2026-11-23 15:05:00", "1795442700", "1795442700000",
                     "2026-11-23T16:05:00+01:00"],
            "ip": ["3232235777", "10.0.0.1", "2001:db8::1", "", "0"],
        },
        dtype="str",
    )
    mapping = mapping_parse({"columns": {"event_id": "id", "account_id": "who", "timestamp": "when", "ip_address": "ip"}})
    clean, reasons = events_prepare(chunk, mapping, [])
    assert list(reasons) == [""] * 5
    assert [t.isoformat() for t in clean["timestamp"]] == [
        "2026-11-23T14:05:00+00:00", "2026-11-23T15:05:00+00:00", "2026-11-23T14:05:00+00:00",
        "2026-11-23T14:05:00+00:00", "2026-11-23T15:05:00+00:00",
    ]
    assert clean["ip_address"].fillna("").tolist() == ["192.168.1.1", "10.0.0.1", "2001:db8::1", "", "0.0.0.0"]


def test_day_first_times_in_a_local_zone():
    chunk = pd.DataFrame({"id": ["1", "2"], "who": ["a", "a"], "when": ["03/11/2026 09:30", "25/12/2026 23:00"]}, dtype="str")
    mapping = mapping_parse({
        "columns": {"event_id": "id", "account_id": "who", "timestamp": "when"},
        "timestamps": {"dayfirst": True, "timezone": "Europe/Paris"},
    })
    clean, reasons = events_prepare(chunk, mapping, [])
    assert list(reasons) == ["", ""]
    assert [t.isoformat() for t in clean["timestamp"]] == ["2026-11-03T08:30:00+00:00", "2026-12-25T22:00:00+00:00"]


# --------------------------------------------------------------------------- public layout


def test_the_card_transactions_layout_imports_with_its_example_mapping():
    output = run_import(HANDBOOK_SAMPLE, HANDBOOK_MAPPING)
    sample = pd.read_csv(HANDBOOK_SAMPLE)
    assert f"accepted {len(sample)} (added {len(sample)}, already present 0), rejected 0" in output

    got = stored("fraud-handbook").set_index("event_id")
    assert len(got) == len(sample)
    fraud = sample[sample["TX_FRAUD"] == 1]
    assert sorted(got.index[got["is_fraud"]]) == sorted(fraud["TRANSACTION_ID"].astype(str))
    row = sample.iloc[5]
    event = got.loc[str(row["TRANSACTION_ID"])]
    assert event["account_id"] == str(row["CUSTOMER_ID"])
    assert event["merchant_id"] == str(row["TERMINAL_ID"])  # the terminal is the counter-party
    assert float(event["amount"]) == pytest.approx(row["TX_AMOUNT"])
    assert event["timestamp"] == pd.Timestamp(row["TX_DATETIME"], tz="UTC")
    assert event["label_known_at"] - event["timestamp"] == timedelta(days=7)
    assert event["scenario"] == str(row["TX_FRAUD_SCENARIO"])
    assert (event["event_type"], event["currency"], event["attributes"]) == ("payment", "EUR", {})
    assert set(got.loc[~got["is_fraud"], "scenario"]) == {""}


# --------------------------------------------------------------------------- mappings and atomicity


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"columns": {"event_id": "event_id", "account_id": "account_id", "timestamp": "timestamp", "amout": "amount"}},
         "columns.amout: 'amout' is not a field of the data contract (did you mean 'amount'?)"),
        ({"columns": {"event_id": "event_id", "timestamp": "timestamp"}},
         "columns: 'account_id' must be mapped to a source column"),
        ({"columns": {"event_id": "event_id", "account_id": "acct", "timestamp": "timestamp"}},
         "columns.account_id: column 'acct' is not in the file"),
        ({"columns": {"event_id": "event_id", "account_id": "account_id", "timestamp": "timestamp"},
          "label": {"column": "is_fraud"}},
         "label: give exactly one of `known_at`"),
        ({"columns": {"event_id": "event_id", "account_id": "account_id", "timestamp": "timestamp"},
          "timestamps": {"format": "dd.mm.yyyy"}},
         "timestamps.format: 'dd.mm.yyyy' is not one of"),
    ],
)
def test_a_bad_mapping_names_the_problem(tmp_path, mapping, message):
    path = generator_csv(tmp_path)
    mapping_path = tmp_path / "mapping.json"
    mapping_path.write_text(json.dumps(mapping))
    with pytest.raises(CommandError) as error:
        run_import(path, mapping_path)
    assert message in str(error.value)
    assert not Transaction.objects.exists()


def test_a_yaml_syntax_error_is_reported(tmp_path):
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text("columns: [event_id: \n")
    with pytest.raises(CommandError, match="mapping.yaml is not valid YAML"):
        run_import(generator_csv(tmp_path), mapping_path)


def test_a_crash_mid_import_keeps_whole_chunks_only(tmp_path, monkeypatch):
    path = generator_csv(tmp_path, world().head(250))
    with monkeypatch.context() as patched:
        crash_on_second_chunk(patched)
        with pytest.raises(RuntimeError):
            run_import(path, chunk_size=100)
    assert Transaction.objects.count() == 100  # the first chunk, none of the second

    with monkeypatch.context() as patched:
        crash_on_second_chunk(patched)
        with pytest.raises(RuntimeError):
            run_import(path, chunk_size=100, single_transaction=True)
    assert Transaction.objects.count() == 100  # all or nothing: nothing more

    assert "added 150, already present 100" in run_import(path, chunk_size=100)
    assert not list(tmp_path.glob("*.part"))


def test_importing_module_rejects_an_unknown_file_type(tmp_path):
    path = tmp_path / "events.xlsx"
    path.write_bytes(b"")
    with pytest.raises(importing.ImportFileError, match="use a .csv"):
        importing.events_import(path=path, mapping=mapping_parse(json.loads(HANDBOOK_MAPPING.read_text())), client=_source("x"))


def test_rows_with_the_wrong_number_of_fields_are_rejected_and_the_rest_stored(tmp_path):
    frame = world().head(20)
    path = generator_csv(tmp_path, frame)
    lines = path.read_text().splitlines(keepends=True)
    too_many = "evt-x,acct-1,2026-09-01T00:00:00Z,too,many,cells,here,for,the,header,a,b,c,d,e,f,g,h,i,j,k,l,m,n\n"
    too_few = "evt-y,acct-1,2026-09-01T00:00:00Z\n"
    path.write_text("".join(lines[:5] + [too_many] + lines[5:12] + [too_few] + lines[12:]))

    output = run_import(path)
    assert "accepted 20" in output and "rejected 2" in output
    rejects = pd.read_csv(tmp_path / "world.rejects.csv", dtype=str, keep_default_na=False)
    reasons = dict(zip(rejects["event_id"], rejects["reject_reason"]))
    header_fields = len(lines[0].split(","))
    assert reasons["evt-x"] == f"row: has 24 fields, the header has {header_fields}"
    assert reasons["evt-y"] == f"row: has 3 fields, the header has {header_fields} (the file may be cut short here)"
    assert set(stored("synthetic-import")["event_id"]) == set(frame["event_id"])


def test_a_file_cut_mid_row_rejects_the_cut_row_and_keeps_the_rest(tmp_path):
    frame = world().head(30)
    path = generator_csv(tmp_path, frame)
    text = path.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    # Cut inside the last row's final cell: the field count still matches the header.
    path.write_text(text.rstrip("\n")[:-2])

    output = run_import(path, chunk_size=10)
    assert "accepted 29" in output and "rejected 1" in output
    rejects = pd.read_csv(tmp_path / "world.rejects.csv", dtype=str, keep_default_na=False)
    cut_id = last.split(",", 1)[0]
    assert rejects["event_id"].tolist() == [cut_id]
    assert rejects["reject_reason"].item().startswith("row: the file ends without a line break after this row")
    assert not Transaction.objects.filter(event_id=cut_id).exists()
    assert Transaction.objects.count() == 29


def test_an_import_that_accepts_nothing_fails(tmp_path):
    frame = world().head(10).copy()
    frame["amount"] = -5.0
    path = generator_csv(tmp_path, frame)
    with pytest.raises(CommandError, match="every one of the 10 rows was rejected"):
        run_import(path)
    assert not Transaction.objects.exists()
    assert (tmp_path / "world.rejects.csv").exists()


def test_ignoring_a_column_the_file_lacks_warns_and_imports(tmp_path):
    path = generator_csv(tmp_path, world().head(10))
    mapping = yaml.safe_load(GENERATOR_MAPPING.read_text())
    mapping["ignore"] = [*mapping.get("ignore", []), "loyalty_tier"]
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(yaml.safe_dump(mapping))
    err = io.StringIO()
    out = io.StringIO()
    call_command("import_events", str(path), mapping=str(mapping_path), stdout=out, stderr=err, verbosity=0)
    assert "ignore: column 'loyalty_tier' is not in the file" in err.getvalue()
    assert "accepted 10" in out.getvalue()


def test_rows_without_a_label_import_as_unknown(tmp_path):
    frame = world().head(12).copy()
    frame["is_fraud"] = frame["is_fraud"].astype(object)
    frame.loc[frame.index[:4], "is_fraud"] = None
    path = generator_csv(tmp_path, frame)
    run_import(path)
    got = stored("synthetic-import").set_index("event_id")
    unlabeled = frame["event_id"].iloc[:4]
    assert got.loc[unlabeled, "is_fraud"].isna().all()
    assert got.loc[unlabeled, "label_known_at"].isna().all()
    assert got.drop(index=unlabeled)["is_fraud"].notna().all()

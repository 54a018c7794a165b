"""CSV import into the store (SQLite, and PostgreSQL when configured): validation, all-or-nothing,
--skip-invalid, idempotency, timestamps, templates and tenants."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from feedbackloop.connectors.csvfiles import ImportReport, import_csv
from feedbackloop.errors import CsvValidationError, InputError, UsageError
from feedbackloop.store import Store
from feedbackloop.store.models import DealRow, MessageRow, TemplateRow

pytestmark = pytest.mark.store

DEALS = (
    "deal_id,outcome,amount,currency,created_at,closed_at,segment,industry,loss_reason,competitor,"
    "stage_lost,sequence_id,owner_id\n"
    """D1,won,1200.50,EUR,2026-01-05,2026-02-10T15:30:00Z,smb,retail,,,,S1,O1
D2,lost,800,EUR,2026-01-06,2026-02-11,mid_market,saas,price,Acme,demo,S1,O2
D3,open,,,2026-01-07,,enterprise,,,,,,
"""
)
MESSAGES = (
    "message_id,deal_id,template_id,sequence_id,position,channel,sent_at,opened,clicked,replied,"
    "response_sentiment\n"
    """M1,D1,T1,S1,1,email,2026-01-05T09:00:00,1,0,true,0.8
M2,D1,T2,S1,2,,2026-01-08T09:00:00,0,,false,
M3,D2,T1,S1,1,email,2026-01-06T09:00:00+02:00,TRUE,False,1,-0.5
M4,D3,,,,linkedin,2026-01-07,,,,
"""
)
TEMPLATES = """template_id,name,subject,body
T1,Intro,"Hello, {{name}}","Hi,
we met at the fair."
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "deals": write(tmp_path / "deals.csv", DEALS),
        "messages": write(tmp_path / "messages.csv", MESSAGES),
        "templates": write(tmp_path / "templates.csv", TEMPLATES),
    }


def missing(value: Any) -> bool:
    return bool(pd.isna(value))


def run(store: Store, files: dict[str, Path], **options: Any) -> ImportReport:
    """Import all three files with ``options``."""
    return import_csv(
        store, deals=files["deals"], messages=files["messages"], templates=files["templates"], **options
    )


def snapshot(store: Store) -> dict[str, list[dict[Any, Any]]]:
    tenant = store.resolve_tenant(None, create=False)
    frames = {
        "deals": store.deals_frame(tenant).sort_values("deal_id"),
        "messages": store.messages_frame(tenant).sort_values("message_id"),
        "templates": store.templates_frame(tenant).sort_values("template_id"),
    }
    return {k: f.astype(object).where(f.notna(), None).to_dict("records") for k, f in frames.items()}


def test_import_stores_every_column(store: Store, files: dict[str, Path]) -> None:
    report = run(store, files)
    assert report.tenant == "default"
    assert (report.deals.read, report.deals.imported, report.deals.rejected) == (3, 3, 0)
    assert (report.messages.read, report.messages.imported) == (4, 4)
    assert (report.templates.read, report.templates.imported, report.templates_from_messages) == (1, 1, 1)
    tenant = store.resolve_tenant(None, create=False)
    deals = store.deals_frame(tenant).set_index("deal_id")
    assert deals.loc["D1", "amount"] == 1200.5
    assert deals.loc["D1", "closed_at"] == pd.Timestamp("2026-02-10T15:30:00Z")
    assert deals.loc["D2", "loss_reason"] == "price"
    assert deals.loc["D2", "competitor"] == "Acme"
    assert deals.loc["D1", "source"] == "csv"
    assert missing(deals.loc["D3", "amount"])
    assert missing(deals.loc["D3", "closed_at"])
    messages = store.messages_frame(tenant).set_index("message_id")
    assert messages.loc["M2", "channel"] == "email"  # empty channel means email
    assert messages.loc["M4", "channel"] == "linkedin"
    assert missing(messages.loc["M4", "template_id"])  # ad-hoc email
    assert [messages.loc["M3", c] for c in ("opened", "clicked", "replied")] == [True, False, True]
    assert missing(messages.loc["M2", "clicked"])  # empty = unknown
    assert messages.loc["M3", "response_sentiment"] == -0.5
    assert messages.loc["M2", "position"] == 2
    templates = store.templates_frame(tenant).set_index("template_id")
    assert templates.loc["T1", "subject"] == "Hello, {{name}}"
    assert templates.loc["T1", "body"] == "Hi,\nwe met at the fair."
    assert set(templates.index) == {"T1", "T2"}  # T2 only named by a message
    assert set(templates["status"]) == {"active"}


def test_naive_times_are_utc_and_offsets_are_converted(store: Store, files: dict[str, Path]) -> None:
    run(store, files)
    messages = store.messages_frame(store.resolve_tenant(None)).set_index("message_id")
    assert messages.loc["M1", "sent_at"] == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert messages.loc["M3", "sent_at"] == datetime(2026, 1, 6, 7, tzinfo=UTC)  # 09:00+02:00
    assert messages.loc["M4", "sent_at"] == datetime(2026, 1, 7, tzinfo=UTC)  # a date is midnight UTC


def test_reimport_changes_nothing_and_edits_update(store: Store, files: dict[str, Path]) -> None:
    run(store, files)
    before = snapshot(store)
    again = run(store, files)
    assert snapshot(store) == before
    assert (again.deals.imported, again.deals.changed, again.messages.changed) == (3, 0, 0)
    assert again.templates_from_messages == 0
    write(files["deals"], DEALS.replace("D2,lost,800", "D2,lost,950"))
    edited = import_csv(store, deals=files["deals"])
    assert edited.deals.changed == 1
    after = snapshot(store)
    assert [d["amount"] for d in after["deals"]][:2] == [1200.5, 950.0]
    assert after["messages"] == before["messages"]


def test_reimport_keeps_template_status_and_pin(store: Store, files: dict[str, Path]) -> None:
    run(store, files)
    tenant = store.resolve_tenant(None)
    store.set_template_status(tenant, "T1", "deprecated", actor="human", pinned=True)
    store.set_template_status(tenant, "T2", "promoted", actor="engine")
    write(files["templates"], TEMPLATES.replace("Intro", "Intro v2"))
    run(store, files)
    templates = store.templates_frame(tenant).set_index("template_id")
    assert templates.loc["T1", "name"] == "Intro v2"
    assert (templates.loc["T1", "status"], bool(templates.loc["T1", "pinned"])) == ("deprecated", True)
    assert templates.loc["T2", "status"] == "promoted"


def test_columns_left_out_keep_their_stored_values(
    store: Store, files: dict[str, Path], tmp_path: Path
) -> None:
    run(store, files)
    slim = write(tmp_path / "slim.csv", "deal_id,outcome,closed_at\nD1,lost,2026-03-01\n")
    import_csv(store, deals=slim)
    deal = store.deals_frame(store.resolve_tenant(None)).set_index("deal_id").loc["D1"]
    assert (deal["outcome"], deal["amount"], deal["segment"]) == ("lost", 1200.5, "smb")


BASE_ROW = {
    "deals": {"deal_id": "D9", "outcome": "open"},
    "messages": {"message_id": "M9", "deal_id": "D1", "sent_at": "2026-01-01"},
    "templates": {"template_id": "T9"},
}
BAD_CASES = [
    # (file, values that differ from BASE_ROW, field, reason fragment)
    ("deals", {"deal_id": ""}, "deal_id", "required"),
    ("deals", {"outcome": ""}, "outcome", "required"),
    ("deals", {"outcome": "winning"}, "outcome", "'winning' is not one of won, lost"),
    ("deals", {"created_at": "2026-02-30"}, "created_at", "'2026-02-30' is not an ISO 8601 timestamp"),
    ("deals", {"outcome": "won", "closed_at": "yesterday"}, "closed_at", "not an ISO 8601 timestamp"),
    ("deals", {"amount": "12k"}, "amount", "'12k' is not a number"),
    ("deals", {"amount": "-5"}, "amount", "not a number ≥ 0"),
    ("deals", {"outcome": "won"}, "closed_at", "required when outcome is won"),
    ("deals", {"outcome": "LOST"}, "closed_at", "required when outcome is lost"),
    ("deals", {"outcome": "disqualified"}, "closed_at", "required when outcome is disqualified"),
    ("deals", {"currency": "EURO-DOLLAR"}, "currency", "longer than 8 characters"),
    ("deals", {"deal_id": "x" * 65}, "deal_id", "longer than 64 characters"),
    ("messages", {"message_id": ""}, "message_id", "required"),
    ("messages", {"deal_id": ""}, "deal_id", "required"),
    ("messages", {"sent_at": ""}, "sent_at", "required"),
    ("messages", {"sent_at": "01/02/2026"}, "sent_at", "not an ISO 8601 timestamp"),
    ("messages", {"deal_id": "D404"}, "deal_id", "unknown deal 'D404'"),
    ("messages", {"opened": "yes"}, "opened", "'yes' is not a boolean (0, 1, true or false)"),
    ("messages", {"replied": "2"}, "replied", "not a boolean"),
    ("messages", {"response_sentiment": "1.5"}, "response_sentiment", "'1.5' is not a number between -1"),
    ("messages", {"response_sentiment": "good"}, "response_sentiment", "is not a number between -1 and 1"),
    ("messages", {"position": "0"}, "position", "'0' is not a whole number ≥ 1"),
    ("messages", {"position": "1.5"}, "position", "not a whole number"),
    ("messages", {"position": "first"}, "position", "not a whole number"),
    ("templates", {"template_id": ""}, "template_id", "required"),
    ("templates", {"name": "n" * 256}, "name", "longer than 255 characters"),
]


@pytest.mark.parametrize(
    ("role", "values", "field", "reason"),
    BAD_CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(BAD_CASES)],
)
def test_each_invalid_value_is_located(
    store: Store, files: dict[str, Path], role: str, values: dict[str, str], field: str, reason: str
) -> None:
    text = {"deals": DEALS, "messages": MESSAGES, "templates": TEMPLATES}[role]
    header = text.splitlines()[0].split(",")
    row = {**BASE_ROW[role], **values}
    write(files[role], text + ",".join(row.get(c, "") for c in header) + "\n")
    line = text.count("\n") + 1  # physical line of the appended row (templates has a quoted newline)
    with pytest.raises(CsvValidationError) as caught:
        run(store, files)
    errors = caught.value.errors
    assert len(errors) == caught.value.total == 1, errors
    assert (errors[0].file, errors[0].line, errors[0].field) == (str(files[role]), line, field)
    assert reason in errors[0].reason
    assert f"{files[role]}:{line}: {field}: " in str(caught.value)


def test_a_row_with_too_many_fields_is_an_error(store: Store, files: dict[str, Path]) -> None:
    write(files["deals"], DEALS + "D9,open,,,,,,,,,,,,surplus\n")
    with pytest.raises(CsvValidationError) as caught:
        run(store, files)
    assert [(e.line, e.field, e.reason) for e in caught.value.errors] == [
        (5, "(row)", "has 14 fields but the header has 13")
    ]


@pytest.mark.parametrize("role", ["deals", "messages", "templates"])
def test_duplicate_ids_in_a_file_are_errors(store: Store, files: dict[str, Path], role: str) -> None:
    text = files[role].read_text().splitlines()
    write(files[role], "\n".join([*text, text[1]]) + "\n")  # the first data row again, at the end
    with pytest.raises(CsvValidationError) as caught:
        run(store, files)
    lines = [e.line for e in caught.value.errors if "duplicate id" in e.reason]
    assert lines[0] == 2
    assert lines[-1] == len(text) + 1
    assert "on lines 2, " in caught.value.errors[0].reason


def test_missing_required_column_is_one_file_error(store: Store, files: dict[str, Path]) -> None:
    write(files["messages"], "message_id,deal_id\nM1,D1\n")
    with pytest.raises(InputError, match=r"missing required column.*sent_at"):
        run(store, files)


def test_invalid_import_writes_nothing_at_all(store: Store, files: dict[str, Path]) -> None:
    write(files["messages"], MESSAGES + "M5,D1,T7,,,,not-a-time,,,,\n")
    with pytest.raises(CsvValidationError, match=r"messages.csv:6: sent_at"):
        run(store, files)
    assert store.list_tenants() == []  # not even the tenant row
    with store.db.engine.connect() as conn:
        for table in ("deals", "messages", "templates"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0


def test_a_failure_while_writing_rolls_everything_back(
    store: Store, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import feedbackloop.connectors.csvstore as csvstore
    from feedbackloop.connectors.csvwrite import bulk_upsert as real

    def fail_on_messages(conn: Any, table: Any, *args: Any, **kwargs: Any) -> int:
        if table.name == "messages":
            raise RuntimeError("disk full")
        return real(conn, table, *args, **kwargs)

    monkeypatch.setattr(csvstore, "bulk_upsert", fail_on_messages)
    with pytest.raises(RuntimeError, match="disk full"):
        run(store, files)
    assert store.list_tenants() == []  # deals, templates and the tenant row were written, then rolled back
    with store.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM deals").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM templates").scalar() == 0


def _index_names(store: Store) -> set[str]:
    with store.db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        return {str(ix["name"]) for table in ("deals", "messages") for ix in inspector.get_indexes(table)}


def test_large_loads_rebuild_indexes_and_a_failure_keeps_them(
    store: Store, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import feedbackloop.connectors.csvwrite as csvwrite

    if store.db.dialect != "sqlite":
        pytest.skip("indexes are rebuilt on SQLite only (PostgreSQL loads through COPY)")
    monkeypatch.setattr(csvwrite, "_REBUILD_INDEXES_FROM", 1)  # every load counts as large
    before = _index_names(store)
    assert {"ix_messages_tenant_deal", "ix_deals_tenant_closed"} <= before

    def broken(self: sa.Index, bind: Any, checkfirst: bool = False) -> None:
        raise RuntimeError("cannot build index")

    with monkeypatch.context() as patch:
        patch.setattr(sa.Index, "create", broken)
        with pytest.raises(RuntimeError, match="cannot build index"):
            run(store, files)
    assert _index_names(store) == before  # dropped inside the transaction, so restored by the rollback
    assert store.list_tenants() == []
    report = run(store, files)
    assert report.messages.changed == 4
    assert _index_names(store) == before


def test_error_lines_count_quoted_newlines(store: Store, files: dict[str, Path]) -> None:
    write(
        files["templates"],
        'template_id,name,body\nT1,Intro,"line one\nline two\nline three"\n,Nameless,x\n',
    )
    with pytest.raises(CsvValidationError) as caught:
        run(store, files)
    assert [(e.line, e.field) for e in caught.value.errors] == [(5, "template_id")]


def test_error_list_is_capped_with_a_count(store: Store, files: dict[str, Path]) -> None:
    rows = "".join(f"X{i},maybe\n" for i in range(30))
    write(files["deals"], "deal_id,outcome\n" + rows)
    with pytest.raises(CsvValidationError) as caught:
        import_csv(store, deals=files["deals"])
    message = str(caught.value)
    assert caught.value.total == 30
    assert message.count("outcome: 'maybe'") == 20
    assert "… and 10 more" in message


def test_skip_invalid_imports_good_rows_and_writes_rejects(store: Store, files: dict[str, Path]) -> None:
    write(files["deals"], DEALS + 'D4,won,"1,000",EUR,2026-01-08,,smb,,,,,,\n')
    write(
        files["messages"],
        MESSAGES + "M5,D4,T1,S1,1,email,2026-01-08,1,,,\nM6,D1,T1,S1,x,email,2026-01-09,,,,\n",
    )
    report = run(store, files, skip_invalid=True)
    assert (report.deals.imported, report.deals.rejected) == (3, 1)
    assert (report.messages.imported, report.messages.rejected) == (4, 2)
    rejects = files["deals"].parent / "import-rejects.csv"
    assert report.rejects_file == str(rejects)
    with rejects.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    got = [(Path(r["file"]).name, r["line"], r["field"]) for r in rows]
    assert got == [
        ("deals.csv", "5", "amount; closed_at"),
        ("messages.csv", "6", "deal_id"),
        ("messages.csv", "7", "position"),
    ]
    assert rows[0]["amount"] == "1,000"  # the rejected row's own values follow
    assert "'1,000' is not a number" in rows[0]["reason"]
    assert "deal 'D4' is invalid (" in rows[1]["reason"]
    tenant = store.resolve_tenant(None)
    assert store.count(DealRow, tenant) == 3
    assert store.count(MessageRow, tenant) == 4


def test_skip_invalid_when_every_row_is_invalid(store: Store, files: dict[str, Path]) -> None:
    write(files["messages"], "message_id,deal_id,sent_at\nM1,D404,2026-01-01\nM2,D405,2026-01-02\n")
    report = run(store, files, skip_invalid=True)
    assert (report.messages.imported, report.messages.rejected) == (0, 2)
    assert report.deals.imported == 3


def test_skip_invalid_with_explicit_rejects_path(
    store: Store, files: dict[str, Path], tmp_path: Path
) -> None:
    write(files["deals"], DEALS + "D5,bogus\n")
    target = tmp_path / "out" / "bad.csv"
    report = run(store, files, skip_invalid=True, rejects=target)
    assert report.rejects_file == str(target)
    assert "bogus" in target.read_text()
    clean = import_csv(store, deals=write(files["deals"], DEALS), skip_invalid=True, rejects=target)
    assert clean.rejects_file is None


def test_rejects_never_overwrite_an_input(store: Store, files: dict[str, Path]) -> None:
    write(files["deals"], DEALS + "D5,bogus\n")
    with pytest.raises(UsageError, match="would overwrite an input file"):
        run(store, files, skip_invalid=True, rejects=files["messages"])
    assert files["messages"].read_text() == MESSAGES
    assert store.list_tenants() == []


def test_messages_may_refer_to_deals_already_stored(store: Store, files: dict[str, Path]) -> None:
    import_csv(store, deals=files["deals"])
    report = import_csv(store, messages=files["messages"])
    assert report.messages.imported == 4
    other = import_csv(store, tenant="other", deals=write(files["deals"], "deal_id,outcome\nD3,open\n"))
    assert other.tenant == "other"
    with pytest.raises(CsvValidationError, match="unknown deal 'D1'"):
        import_csv(store, tenant="other", messages=files["messages"])  # D1 is another tenant's deal


def test_tenant_resolution(store: Store, files: dict[str, Path]) -> None:
    assert import_csv(store, deals=files["deals"]).tenant == "default"
    assert import_csv(store, deals=files["deals"]).tenant == "default"  # the only tenant
    assert import_csv(store, "acme", deals=files["deals"]).tenant == "acme"
    with pytest.raises(UsageError, match="several tenants"):
        import_csv(store, deals=files["deals"])
    assert store.count(DealRow, store.resolve_tenant("acme")) == 3
    assert store.count(TemplateRow, store.resolve_tenant("acme")) == 0


def test_bom_and_extra_columns(store: Store, files: dict[str, Path]) -> None:
    files["deals"].write_bytes(b"\xef\xbb\xbf" + DEALS.replace("owner_id\n", "owner_id,notes\n", 1).encode())
    report = import_csv(store, deals=files["deals"])
    assert report.deals.imported == 3
    assert report.warnings == [f"{files['deals']}: ignored unknown column(s): notes"]


def test_surrounding_spaces_are_ignored(store: Store, files: dict[str, Path]) -> None:
    write(files["deals"], "deal_id, outcome ,closed_at\n D1 ,\tWon , 2026-02-01 \nD2,lost,2026-02-02\n")
    write(files["messages"], "message_id,deal_id,sent_at,opened\nM1, D1,2026-01-01 ,  1\n")
    write(files["templates"], 'template_id,subject\nT1," Hi there "\n')
    run(store, files)
    tenant = store.resolve_tenant(None)
    deal = store.deals_frame(tenant).set_index("deal_id").loc["D1"]
    assert (deal["outcome"], deal["closed_at"]) == ("won", pd.Timestamp("2026-02-01", tz="UTC"))
    message = store.messages_frame(tenant).iloc[0]
    assert (message["deal_id"], bool(message["opened"])) == ("D1", True)
    assert store.templates_frame(tenant).iloc[0]["subject"] == " Hi there "  # kept as written


def test_progress_is_reported(store: Store, files: dict[str, Path]) -> None:
    seen: list[tuple[str, int, int]] = []
    run(store, files, progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = [s for s, _, _ in seen]
    assert "reading deals.csv" in stages
    assert ("writing messages", 4, 4) in seen


def test_usage_errors(store: Store, files: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="nothing to import"):
        import_csv(store)
    with pytest.raises(UsageError, match="only written with --skip-invalid"):
        import_csv(store, deals=files["deals"], rejects="x.csv")


def test_the_sandbox_world_round_trips_through_csv(store: Store, tmp_path: Path) -> None:
    """The simulated world writes the public format; importing it must keep every value."""
    from feedbackloop.sandbox.world import WorldConfig, generate_world

    world = generate_world(WorldConfig(deals=300, seed=7))
    paths = world.to_csv(tmp_path / "world")
    report = import_csv(
        store, "world", deals=paths["deals"], messages=paths["messages"], templates=paths["templates"]
    )
    assert report.deals.rejected == report.messages.rejected == report.templates.rejected == 0
    tenant = store.resolve_tenant("world")
    ours = store.messages_frame(tenant).set_index("message_id").sort_index()
    truth = world.messages_frame().set_index("message_id").sort_index()
    assert list(ours.index) == list(truth.index)
    assert (ours["sent_at"].dt.floor("s") == pd.to_datetime(truth["sent_at"], utc=True).dt.floor("s")).all()
    assert (ours["opened"].astype(bool) == truth["opened"].astype(bool)).all()
    deals = store.deals_frame(tenant).set_index("deal_id").sort_index()
    expected = world.deals_frame().set_index("deal_id").sort_index()
    assert (deals["outcome"] == expected["outcome"]).all()
    assert set(store.templates_frame(tenant)["template_id"]) >= set(truth["template_id"].dropna()) - {""}

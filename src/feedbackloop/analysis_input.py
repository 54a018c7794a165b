"""What `analyze` reads from the store, and starting to read it before the store is even open.

On a large SQLite store, reading the deals and messages (a child process, :mod:`feedbackloop.sqlite_arrow`)
takes longer than everything the command does before the engine runs: opening the store, resolving the
tenant, importing the engine. :func:`start_reading` starts that child first; the analysis then takes
its tables (:func:`feedbackloop.analysis.compute_analysis` with ``reader=``) if they are what it needs,
and otherwise reads them itself. Light on purpose: only the standard library is imported here.
"""

from __future__ import annotations

from feedbackloop.sqlite_arrow import Reader, sqlite_file, start

__all__ = [
    "ENGINE_DEAL_COLUMNS",
    "ENGINE_MESSAGE_COLUMNS",
    "ENGINE_TABLES",
    "ENGINE_TEMPLATE_COLUMNS",
    "SHARED_KEY",
    "start_reading",
]

#: the message columns the engine reads (ids, channel, contact and sentiment are not used): loading
#: only these saves a third of the time and memory of reading a large store
ENGINE_MESSAGE_COLUMNS = (
    "deal_id", "template_id", "sequence_id", "position", "direction", "sent_at", "opened", "clicked",
    "replied", "objections",
)  # fmt: skip
#: the engine's ``DEAL_COLUMNS`` and ``TEMPLATE_COLUMNS`` (:mod:`feedbackloop.engine.pipeline`), repeated
#: here so that reading can start before the engine is imported (a test checks that they agree)
ENGINE_DEAL_COLUMNS = (
    "deal_id", "outcome", "amount", "currency", "created_at", "closed_at", "segment", "industry",
    "loss_reason", "competitor", "stage_lost", "sequence_id", "owner_id", "source",
)  # fmt: skip
ENGINE_TEMPLATE_COLUMNS = ("template_id", "name", "status", "pinned")
#: table name and columns, in the order the analysis asks for them
ENGINE_TABLES = (
    ("deals", ENGINE_DEAL_COLUMNS),
    ("messages", ENGINE_MESSAGE_COLUMNS),
    ("templates", ENGINE_TEMPLATE_COLUMNS),
)
#: the column the deal and message frames share as one Categorical (the engine's integer deal keys)
SHARED_KEY = "deal_id"


def start_reading(database_url: str, tenant: str | None) -> Reader | None:
    """Start reading the engine's tables of ``tenant`` (None: the only tenant) from a SQLite file;
    None for other databases. The caller must pass the reader on or discard it."""
    path = sqlite_file(database_url)
    if path is None:
        return None
    who = f"name:{tenant}" if tenant else "only"
    return start(path, who, [(t, list(columns)) for t, columns in ENGINE_TABLES], SHARED_KEY)

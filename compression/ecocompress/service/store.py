"""The results store: one row per measured point, with provenance, safe for several writers.

By default a SQLite file (``ECOCOMPRESS_DB``): WAL mode lets readers go on while one process writes; every write is
one short transaction, so a process killed mid-write leaves earlier rows untouched (SQLite rolls the open transaction
back on the next open). A fresh connection per call keeps it thread-safe for Streamlit, where every session runs in
its own thread.

With ``ECOCOMPRESS_STORE_URL=postgresql://...`` the same tables live in PostgreSQL, so several app replicas and the
CLI, on any machine, share points and jobs (issue 33's shared store). The two differ only in ``_SQLite`` and
``_Postgres`` below: how to connect, the id column, and how a write transaction starts; every query is the same SQL.
The schema only ever gains tables and columns (``CREATE ... IF NOT EXISTS`` and ``ADDED_COLUMNS``), so any version of
the code opens any older store; that rule is the schema's versioning (Alembic would be the kept library for the day
a column must change, not be added).

A file that is not a database, or a damaged one, is one sentence (``StoreError``) and is never rewritten; a row
whose JSON cannot be decoded is skipped (``skipped_rows`` counts them) and every row that decodes is still served.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ecocompress.core.config import db_path
from ecocompress.core.errors import StoreError
from ecocompress.core.provenance import hardware
from ecocompress.core.settings import settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id {id},
    model TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    point_key TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    code_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    result_json TEXT NOT NULL,
    provenance_json TEXT NOT NULL,
    {hardware}
    UNIQUE (model_hash, point_key, settings_key, code_version{hardware_key})
);
CREATE INDEX IF NOT EXISTS points_by_model ON points (model);
CREATE TABLE IF NOT EXISTS revisions (  -- bumped by every write of a model's points: what readers cache by
    model TEXT PRIMARY KEY,
    revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id {id},
    model TEXT NOT NULL,
    label TEXT NOT NULL,
    state TEXT NOT NULL,            -- running, done, failed, cancelled
    reason TEXT,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS workers (  -- measurement workers (``service.fleet``): who is alive, on what machine
    name TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    machine_json TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store (  -- ('id', a random id): a store made anew at the same place is another store
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Columns added after the first stores were made (a store without them gains them when opened).
ADDED_COLUMNS = (
    ("points", "hardware"),  # the hardware class that measured it (``provenance.hardware``); NULL: before it was kept
    ("jobs", "owner"),  # the session that asked for it (a browser session, "cli", ...)
    ("jobs", "job_key"),  # model content, point, settings and code: what a request for it repeats
    ("jobs", "failure"),  # the kind of error a failed job ended with (e.g. LimitExceeded)
    ("jobs", "host"),  # the machine whose process ran it: only that machine can tell whether the process still lives
)
# The rows a machine reads: its hardware class's (a shared store holds others'), and rows from before it was kept.
MINE = "(hardware = ? OR hardware IS NULL)"
INTERRUPTED = "interrupted: the process measuring it stopped (killed or restarted) before it finished; nothing was stored"
BUSY_TIMEOUT_S = 60.0


class _SQLite:
    """A SQLite file: WAL, a busy timeout, and BEGIN IMMEDIATE for a write that reads what it updates.

    One machine's file: a point is unique by its key; rows from before ``hardware`` was kept have none and are
    this machine's."""

    conflict = "model_hash, point_key, settings_key, code_version"
    returning = ""  # SQLite before 3.35 has no RETURNING: the cursor's lastrowid is the new id

    @staticmethod
    def new_id(cursor: Any) -> int:
        return int(cursor.lastrowid)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot open the results database at {self.path} ({exc.strerror or exc}); "
                             "set ECOCOMPRESS_DB to a writable file path.") from None

    @contextlib.contextmanager
    def connect(self, *, rows_as_dicts: bool = False) -> Iterator[Any]:
        """One short-lived connection; a full disk or an unwritable file becomes one sentence (``StoreError``)."""
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the results database at {self.path} ({exc}); "
                             "set ECOCOMPRESS_DB to a writable file path.") from exc
        if rows_as_dicts:
            conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        except sqlite3.OperationalError as exc:
            raise StoreError(f"Cannot write the results database at {self.path} ({exc}); free disk space or set "
                             "ECOCOMPRESS_DB to a writable file path. Results stored before are intact.") from exc
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged one: never rewritten here
            raise StoreError(f"The results database at {self.path} is damaged or not a database ({exc}); it was left "
                             "as it is: move it aside (or set ECOCOMPRESS_DB to another file) and measure again.") from None
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def create(self, conn: Any) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA.format(id="INTEGER PRIMARY KEY AUTOINCREMENT", hardware="", hardware_key=""))
        columns = {table: {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                   for table in {table for table, _ in ADDED_COLUMNS}}  # one look per table, not per column
        for table, column in ADDED_COLUMNS:
            if column not in columns[table]:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
                except sqlite3.OperationalError as exc:  # another process added it just now
                    if "duplicate column" not in str(exc):
                        raise


_SCHEMA_MADE: set[str] = set()  # PostgreSQL databases this process has made or checked the tables of


class _Postgres:
    """A PostgreSQL database (psycopg 3): the same SQL with its placeholders; a write transaction is psycopg's.

    Shared by machines of several hardware classes: a point is unique by its key *and* its hardware class, so two
    classes' figures for one point live side by side."""

    conflict = "model_hash, point_key, settings_key, code_version, hardware"
    returning = " RETURNING id"

    @staticmethod
    def new_id(cursor: Any) -> int:
        return int(cursor.fetchone()[0])

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = redacted(url)
        self.path = None

    def open(self) -> None:
        pass

    @contextlib.contextmanager
    def connect(self, *, rows_as_dicts: bool = False) -> Iterator[Any]:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError:
            raise StoreError("A PostgreSQL results store needs psycopg: pip install -e '.[postgres]'.") from None
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                   row_factory=dict_row if rows_as_dicts else psycopg.rows.tuple_row)
        except psycopg.Error as exc:
            raise StoreError(f"Cannot reach the results store {self.location} ({type(exc).__name__}); check "
                             "ECOCOMPRESS_STORE_URL and that the server is up. Nothing was changed.") from None
        try:
            yield _Placeholders(conn)
        except psycopg.Error as exc:
            raise StoreError(f"The results store {self.location} refused a request ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:160]}). Results stored before are intact.") from None
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        with conn.raw.transaction():
            yield

    def create(self, conn: Any) -> None:
        if self.url in _SCHEMA_MADE:  # once per process and database: DDL takes locks every replica would wait on
            return
        with self.transaction(conn):  # one process at a time: CREATE IF NOT EXISTS races in PostgreSQL
            conn.execute("SELECT pg_advisory_xact_lock(4233001)")
            conn.raw.execute(SCHEMA.format(id="BIGSERIAL PRIMARY KEY", hardware="hardware TEXT NOT NULL,",
                                           hardware_key=", hardware"))
            for table, column in ADDED_COLUMNS:
                conn.raw.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} TEXT")
        _SCHEMA_MADE.add(self.url)


class _Placeholders:
    """A psycopg connection that takes the SQLite-style ``?`` placeholders the store's SQL is written with."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: tuple | list = ()) -> Any:
        return self.raw.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: list) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)


def _store_id(conn: Any) -> str:
    """The store's random id, made by the first process to open it: read first, so opening a store does not write."""
    row = conn.execute("SELECT value FROM store WHERE key='id'").fetchone()
    if row is None:
        conn.execute("INSERT INTO store (key, value) VALUES ('id', ?) ON CONFLICT (key) DO NOTHING", (uuid.uuid4().hex,))
        row = conn.execute("SELECT value FROM store WHERE key='id'").fetchone()
    return row[0]


def redacted(url: str) -> str:
    """``url`` without its password: what a message or a page may show."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{parts.username + '@' if parts.username else ''}{host}" \
        f"{':' + str(parts.port) if parts.port else ''}{parts.path}"


class ResultsStore:
    """Measured points keyed by (model hash, point, measurement settings, code version).

    ``ResultsStore()`` opens the configured store (``ECOCOMPRESS_STORE_URL``, else the SQLite file
    ``ECOCOMPRESS_DB``); ``ResultsStore(path)`` a SQLite file, ``ResultsStore("postgresql://...")`` a database.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        url = settings().store_url if path is None else str(path)
        if url is not None and url.startswith(("postgresql://", "postgres://")):
            self._db: _SQLite | _Postgres = _Postgres(url)
        else:
            self._db = _SQLite(Path(os.path.abspath(path)) if path is not None else db_path())  # children run elsewhere
        self.path = self._db.path
        self.location = self._db.location  # what messages and job keys name (a URL without its password)
        self.skipped_rows = 0  # rows whose JSON could not be decoded, skipped by the last read
        self._db.open()
        with self._db.connect() as conn:
            self._db.create(conn)
            self._id = _store_id(conn)

    def _connect(self, *, rows_as_dicts: bool = False):
        return self._db.connect(rows_as_dicts=rows_as_dicts)

    def _decoded(self, text: Any) -> dict[str, Any] | None:
        """A row's JSON object, or None (counted in ``skipped_rows``) when it does not decode to one."""
        try:
            value = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            self.skipped_rows += 1
            logging.getLogger("ecocompress").warning("skipped an undecodable row of the results database %s",
                                                     self.location)
            return None
        return value

    def _column(self, column: str, key: tuple[str, str, str, str]) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {column} FROM points WHERE model_hash=? AND point_key=? AND settings_key=? AND code_version=? "
                f"AND {MINE} ORDER BY id DESC LIMIT 1", (*key, hardware()),
            ).fetchone()
        return self._decoded(row[0]) if row else None

    def get(self, model_hash: str, point_key: str, settings_key: str, code_version: str) -> dict[str, Any] | None:
        """The stored result for this exact key, or None."""
        return self._column("result_json", (model_hash, point_key, settings_key, code_version))

    def put(
        self,
        *,
        model: str,
        model_hash: str,
        point_key: str,
        settings_key: str,
        code_version: str,
        result: dict[str, Any],
        provenance: dict[str, Any],
    ) -> None:
        """Insert or replace one point in a single transaction."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn, self._db.transaction(conn):
            conn.execute(
                f"""INSERT INTO points (model, model_hash, point_key, settings_key, code_version,
                                        created_at, result_json, provenance_json, hardware)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT ({self._db.conflict}) DO UPDATE SET
                        created_at=excluded.created_at, result_json=excluded.result_json,
                        provenance_json=excluded.provenance_json, hardware=excluded.hardware""",
                (model, model_hash, point_key, settings_key, code_version, created,
                 json.dumps(result, sort_keys=True), json.dumps(provenance, sort_keys=True), hardware()),
            )
            conn.execute("INSERT INTO revisions (model, revision) VALUES (?, 1) "
                         "ON CONFLICT (model) DO UPDATE SET revision = revisions.revision + 1", (model,))

    def results(
        self, model: str | None = None, *, settings_key: str | None = None, code_version: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored results, oldest first, optionally only one model / settings / code version."""
        clauses, args = [MINE], [hardware()]
        for column, value in (("model", model), ("settings_key", settings_key), ("code_version", code_version)):
            if value is not None:
                clauses.append(f"{column}=?")
                args.append(value)
        with self._connect() as conn:
            rows = conn.execute(f"SELECT result_json FROM points WHERE {' AND '.join(clauses)} ORDER BY id", args).fetchall()
        self.skipped_rows = 0
        return [d for d in (self._decoded(r[0]) for r in rows) if d is not None]

    def identity(self) -> tuple[str, str]:
        """Which store this is (where, and its random id, read when opened): a store moved aside (or dropped) and made anew at the same
        place is another store, whose revisions start again."""
        return self.location, self._id

    def version(self, model: str) -> int:
        """How many times ``model``'s points were written (0: never): a new insert or a replacement changes it."""
        with self._connect() as conn:
            row = conn.execute("SELECT revision FROM revisions WHERE model=?", (model,)).fetchone()
        return int(row[0]) if row else 0

    def provenance(self, model_hash: str, point_key: str, settings_key: str, code_version: str) -> dict[str, Any] | None:
        """Where the stored result for this key came from (library versions, method, windows)."""
        return self._column("provenance_json", (model_hash, point_key, settings_key, code_version))

    def latest_provenance(self, model_hash: str, point_key: str, code_version: str) -> dict[str, Any] | None:
        """Provenance of the newest stored measurement of this point (any measurement settings)."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT provenance_json FROM points WHERE model_hash=? AND point_key=? AND code_version=? AND {MINE} "
                "ORDER BY id DESC LIMIT 1",
                (model_hash, point_key, code_version, hardware()),
            ).fetchone()
        return self._decoded(row[0]) if row else None

    # ---- job records: a failed or interrupted job leaves its reason, never a half-written point ----------------
    def start_job(self, model: str, label: str, *, owner: str | None = None, key: str | None = None) -> int:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO jobs (model, label, state, pid, started_at, owner, job_key, host) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?)" + self._db.returning,
                (model, label, os.getpid(), now, owner, key, socket.gethostname()),
            )
            return self._db.new_id(cursor)

    def finish_job(self, job_id: int, state: str, reason: str | None = None, *, failure: str | None = None) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn:
            conn.execute("UPDATE jobs SET state=?, reason=?, finished_at=?, failure=? WHERE id=?",
                         (state, reason, now, failure, job_id))

    def fail_running(self, key: str, owner: str, reason: str) -> None:
        """Mark ``owner``'s running jobs for ``key`` failed with ``reason``: their process is known to be gone (another
        machine's worker that stopped beating), so ``recover_interrupted`` on this machine could not tell."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn:
            conn.execute("UPDATE jobs SET state='failed', reason=?, finished_at=? "
                         "WHERE job_key=? AND owner=? AND state='running'", (reason, now, key, owner))

    def last_job(self, key: str, owner: str | None = None) -> dict[str, Any] | None:
        """The latest job recorded for ``key`` (``start_job``'s), whatever its state; only ``owner``'s if given."""
        with self._connect(rows_as_dicts=True) as conn:
            mine = " AND owner=?" if owner is not None else ""
            row = conn.execute(f"SELECT * FROM jobs WHERE job_key=?{mine} ORDER BY id DESC LIMIT 1",
                               (key,) if owner is None else (key, owner)).fetchone()
        return dict(row) if row else None

    def recover_interrupted(self) -> int:
        """Mark jobs left 'running' by a process of this machine that no longer exists as failed; returns how many.
        (Another machine's jobs are that machine's to recover: its process ids mean nothing here.)"""
        with self._connect() as conn:
            rows = conn.execute("SELECT id, pid FROM jobs WHERE state='running' AND (host=? OR host IS NULL)",
                                (socket.gethostname(),)).fetchall()
            dead = [job_id for job_id, pid in rows if not _alive(pid)]
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            conn.executemany(
                "UPDATE jobs SET state='failed', reason=?, finished_at=? WHERE id=?", [(INTERRUPTED, now, i) for i in dead]
            )
        return len(dead)

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        with self._connect(rows_as_dicts=True) as conn:
            query = "SELECT * FROM jobs" + (" WHERE state=?" if state else "") + " ORDER BY id"
            return [dict(r) for r in conn.execute(query, (state,) if state else ())]

    # ---- measurement workers (``service.fleet``) -------------------------------------------------------------------
    def beat(self, name: str, label: str, machine: dict[str, Any], started_at: str) -> None:
        """Say worker ``name`` (of hardware class ``label``, on ``machine``) is alive now."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn:
            conn.execute("INSERT INTO workers (name, label, machine_json, started_at, last_seen) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET last_seen=excluded.last_seen",
                         (name, label, json.dumps(machine, sort_keys=True), started_at, now))

    def workers(self) -> list[dict[str, Any]]:
        """Every worker that ever said it was alive, with its machine and when it was last seen."""
        with self._connect(rows_as_dicts=True) as conn:
            rows = [dict(r) for r in conn.execute("SELECT * FROM workers ORDER BY label, name")]
        return [{**row, "machine": self._decoded(row.pop("machine_json")) or {}} for row in rows]

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM points WHERE {MINE}", (hardware(),)).fetchone()[0])


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

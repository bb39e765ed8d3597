"""SQLite results store: one row per measured point, with provenance, safe for several writers.

WAL mode lets readers go on while one process writes; every write is one short transaction,
so a process killed mid-write leaves earlier rows untouched (SQLite rolls the open
transaction back on the next open). A fresh connection per call keeps it thread-safe for
Streamlit, where every session runs in its own thread.

A file that is not a database, or a damaged one, is one sentence (``StoreError``) and is never
rewritten; a row whose JSON cannot be decoded is skipped (``skipped_rows`` counts them) and every
row that decodes is still served.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ecocompress.core.config import db_path
from ecocompress.core.errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    point_key TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    code_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    result_json TEXT NOT NULL,
    provenance_json TEXT NOT NULL,
    UNIQUE (model_hash, point_key, settings_key, code_version)
);
CREATE INDEX IF NOT EXISTS points_by_model ON points (model);
CREATE TABLE IF NOT EXISTS revisions (  -- bumped by every write of a model's points: what readers cache by
    model TEXT PRIMARY KEY,
    revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    label TEXT NOT NULL,
    state TEXT NOT NULL,            -- running, done, failed, cancelled
    reason TEXT,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    owner TEXT,                     -- the session that asked for it (a browser session, "cli", ...)
    job_key TEXT,                   -- model content, point, settings and code: what a request for it repeats
    failure TEXT                    -- the kind of error a failed job ended with (e.g. LimitExceeded)
);
"""
INTERRUPTED = "interrupted: the process measuring it stopped (killed or restarted) before it finished; nothing was stored"
BUSY_TIMEOUT_S = 60.0


class ResultsStore:
    """Measured points keyed by (model hash, point, measurement settings, code version)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(os.path.abspath(path)) if path is not None else db_path()  # children run elsewhere
        self.skipped_rows = 0  # rows whose JSON could not be decoded, skipped by the last read
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
                for column in ("owner", "job_key", "failure"):  # a store made before jobs had these
                    if column not in columns:
                        try:
                            conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT")
                        except sqlite3.OperationalError as exc:  # another process added it just now
                            if "duplicate column" not in str(exc):
                                raise
        except OSError as exc:
            raise StoreError(
                f"Cannot open the results database at {self.path} ({exc.strerror or exc}); "
                "set ECOCOMPRESS_DB to a writable file path."
            ) from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection; a full disk or an unwritable file becomes one sentence (``StoreError``)."""
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the results database at {self.path} ({exc}); "
                             "set ECOCOMPRESS_DB to a writable file path.") from exc
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

    def _decoded(self, text: Any) -> dict[str, Any] | None:
        """A row's JSON object, or None (counted in ``skipped_rows``) when it does not decode to one."""
        try:
            value = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            self.skipped_rows += 1
            logging.getLogger("ecocompress").warning("skipped an undecodable row of the results database %s", self.path)
            return None
        return value

    def _column(self, column: str, key: tuple[str, str, str, str]) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {column} FROM points WHERE model_hash=? AND point_key=? AND settings_key=? AND code_version=?",
                key,
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
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    """INSERT INTO points (model, model_hash, point_key, settings_key, code_version,
                                           created_at, result_json, provenance_json)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (model_hash, point_key, settings_key, code_version) DO UPDATE SET
                           created_at=excluded.created_at, result_json=excluded.result_json,
                           provenance_json=excluded.provenance_json""",
                    (model, model_hash, point_key, settings_key, code_version, created,
                     json.dumps(result, sort_keys=True), json.dumps(provenance, sort_keys=True)),
                )
                conn.execute("INSERT INTO revisions (model, revision) VALUES (?, 1) "
                             "ON CONFLICT (model) DO UPDATE SET revision = revision + 1", (model,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def results(
        self, model: str | None = None, *, settings_key: str | None = None, code_version: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored results, oldest first, optionally only one model / settings / code version."""
        clauses, args = [], []
        for column, value in (("model", model), ("settings_key", settings_key), ("code_version", code_version)):
            if value is not None:
                clauses.append(f"{column}=?")
                args.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as conn:
            rows = conn.execute(f"SELECT result_json FROM points{where} ORDER BY id", args).fetchall()
        self.skipped_rows = 0
        return [d for d in (self._decoded(r[0]) for r in rows) if d is not None]

    def identity(self) -> tuple[str, int, int]:
        """Which database file this is (path, device, inode): a store moved aside and made anew at the same path is
        another store, whose revisions start again."""
        stat = os.stat(self.path)
        return str(self.path), stat.st_dev, stat.st_ino

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
                "SELECT provenance_json FROM points WHERE model_hash=? AND point_key=? AND code_version=? "
                "ORDER BY id DESC LIMIT 1",
                (model_hash, point_key, code_version),
            ).fetchone()
        return self._decoded(row[0]) if row else None

    # ---- job records: a failed or interrupted job leaves its reason, never a half-written point ----------------
    def start_job(self, model: str, label: str, *, owner: str | None = None, key: str | None = None) -> int:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO jobs (model, label, state, pid, started_at, owner, job_key) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (model, label, os.getpid(), now, owner, key),
            )
            return int(cursor.lastrowid)

    def finish_job(self, job_id: int, state: str, reason: str | None = None, *, failure: str | None = None) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as conn:
            conn.execute("UPDATE jobs SET state=?, reason=?, finished_at=?, failure=? WHERE id=?",
                         (state, reason, now, failure, job_id))

    def last_job(self, key: str) -> dict[str, Any] | None:
        """The latest job recorded for ``key`` (``start_job``'s), whatever its state."""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM jobs WHERE job_key=? ORDER BY id DESC LIMIT 1", (key,)).fetchone()
        return dict(row) if row else None

    def recover_interrupted(self) -> int:
        """Mark jobs left 'running' by a process that no longer exists as failed; returns how many."""
        with self._connect() as conn:
            rows = conn.execute("SELECT id, pid FROM jobs WHERE state='running'").fetchall()
            dead = [job_id for job_id, pid in rows if not _alive(pid)]
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            conn.executemany(
                "UPDATE jobs SET state='failed', reason=?, finished_at=? WHERE id=?", [(INTERRUPTED, now, i) for i in dead]
            )
        return len(dead)

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            query = "SELECT * FROM jobs" + (" WHERE state=?" if state else "") + " ORDER BY id"
            return [dict(r) for r in conn.execute(query, (state,) if state else ())]

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])


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

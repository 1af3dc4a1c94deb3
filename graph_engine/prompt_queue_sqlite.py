"""The prompt queue in one SQLite file (WAL): pending prompts and history survive a restart of the process."""
from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from .prompt_queue import (INTERRUPTED_BY_SHUTDOWN, DuplicatePromptError, FinishedPrompt, HistoryEntry, PromptQueue,
                           QueueItem, QueueStorageFull, RunStatus)

PENDING, RUNNING, DONE = "pending", "running", "done"
SQLITE_MAX_INT = (1 << 63) - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order: breaks ties between equal numbers
    prompt_id TEXT NOT NULL UNIQUE,
    number REAL NOT NULL,
    state TEXT NOT NULL,
    prompt TEXT NOT NULL,
    extra_data TEXT NOT NULL,
    outputs_to_execute TEXT NOT NULL,
    outputs TEXT,
    status TEXT,
    finished INTEGER  -- order of completion, for the history
);
CREATE INDEX IF NOT EXISTS prompts_waiting ON prompts (state, number, seq);
CREATE INDEX IF NOT EXISTS prompts_history ON prompts (state, finished);
"""


def _sqlite_int(count: int) -> int:
    """A count clamped to what SQLite's 64-bit integers hold (no table comes near it); negatives are 0."""
    return min(max(0, count), SQLITE_MAX_INT)


def _disk_full(error: sqlite3.OperationalError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL  # low byte: the primary code


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=repr)


class SQLitePromptQueue(PromptQueue):
    """PromptQueue stored in SQLite; one connection shared under a lock (every statement is short)."""

    def __init__(self, path: str | Path, max_history: int = 10000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_history = max_history
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crashed process loses nothing committed
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock, committed at the end or rolled back on any failure (the commit's
        own included); a full disk is raised as QueueStorageFull."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:  # SQLite may have rolled back by itself (e.g. on a full disk)
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and _disk_full(exc):
                    raise QueueStorageFull(f"the prompt queue ({self.path.name})") from exc
                raise

    def _transaction(self, statements: Iterable[tuple[str, tuple]]) -> list[sqlite3.Cursor]:
        with self._writing() as db:
            return [db.execute(sql, args) for sql, args in statements]

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def put(self, prompt_id: str, prompt: dict, extra_data: dict, outputs_to_execute: list[str], *,
            front: bool = False, number: float | None = None) -> QueueItem:
        if number is not None and not math.isfinite(number):  # SQLite would store NaN as NULL
            raise ValueError(f"a prompt's number must be finite, not {number}")
        with self._writing() as db:
            if number is None:
                (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM prompts").fetchone()
                number = -(last + 1) if front else last + 1
            # a prompt id that is queued again (e.g. after an interrupt) replaces its history entry
            db.execute("DELETE FROM prompts WHERE prompt_id = ? AND state = ?", (prompt_id, DONE))
            try:
                db.execute(
                    "INSERT INTO prompts (prompt_id, number, state, prompt, extra_data, outputs_to_execute) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (prompt_id, float(number), PENDING, _json(prompt), _json(extra_data), _json(outputs_to_execute)))
            except sqlite3.IntegrityError:  # the only constraint a valid row can break is the unique prompt id
                raise DuplicatePromptError(f"prompt id {prompt_id} is already queued") from None
        return QueueItem(number, prompt_id, prompt, extra_data, list(outputs_to_execute))

    def take(self) -> QueueItem | None:
        with self._writing() as db:
            row = db.execute(
                "UPDATE prompts SET state = ? WHERE seq = (SELECT seq FROM prompts WHERE state = ? "
                "ORDER BY number, seq LIMIT 1) RETURNING number, prompt_id, prompt, extra_data, outputs_to_execute",
                (RUNNING, PENDING)).fetchone()
        return _item(row) if row else None

    def finish(self, prompt_id: str, outputs: dict[str, Any], status: RunStatus) -> None:
        self._transaction([
            ("UPDATE prompts SET state = ?, outputs = ?, status = ?, "
             "finished = (SELECT COALESCE(MAX(finished), 0) + 1 FROM prompts) WHERE prompt_id = ?",
             (DONE, _json(outputs), _json(status.to_json()), prompt_id)),
            ("DELETE FROM prompts WHERE state = ? AND finished <= "
             "(SELECT MAX(finished) FROM prompts) - ?", (DONE, self.max_history)),
        ])

    def pending(self) -> list[QueueItem]:
        return [_item(row) for row in self._query(
            "SELECT number, prompt_id, prompt, extra_data, outputs_to_execute FROM prompts WHERE state = ? "
            "ORDER BY number, seq", (PENDING,))]

    def running(self) -> list[QueueItem]:
        return [_item(row) for row in self._query(
            "SELECT number, prompt_id, prompt, extra_data, outputs_to_execute FROM prompts WHERE state = ?",
            (RUNNING,))]

    def count_remaining(self) -> int:
        return self._query("SELECT COUNT(*) FROM prompts WHERE state IN (?, ?)", (PENDING, RUNNING))[0][0]

    def delete_pending(self, prompt_ids: list[str]) -> int:
        statements = [("DELETE FROM prompts WHERE prompt_id = ? AND state = ?", (pid, PENDING)) for pid in prompt_ids]
        return sum(cursor.rowcount for cursor in self._transaction(statements))

    def clear_pending(self) -> int:
        return self._transaction([("DELETE FROM prompts WHERE state = ?", (PENDING,))])[0].rowcount

    def history(self, max_items: int | None = None, offset: int = 0) -> list[HistoryEntry]:
        limit = -1 if max_items is None else _sqlite_int(max_items)
        rows = self._query(
            "SELECT number, prompt_id, prompt, extra_data, outputs_to_execute, outputs, status FROM prompts "
            "WHERE state = ? ORDER BY finished DESC LIMIT ? OFFSET ?", (DONE, limit, _sqlite_int(offset)))
        return [_entry(row) for row in reversed(rows)]

    def finished_prompts(self) -> list[FinishedPrompt]:
        # one parse of each extra_data, in SQLite: far cheaper than reading the prompts and workflows into Python
        rows = self._query(
            "SELECT number, prompt_id, json_extract(extra_data, '$.create_time', '$.extra_pnginfo.workflow.id'), "
            "outputs, status FROM prompts WHERE state = ? ORDER BY finished", (DONE,))
        return [FinishedPrompt(number, prompt_id, *json.loads(facts), json.loads(outputs), _status(status))
                for number, prompt_id, facts, outputs, status in rows]

    def history_entry(self, prompt_id: str) -> HistoryEntry | None:
        rows = self._query(
            "SELECT number, prompt_id, prompt, extra_data, outputs_to_execute, outputs, status FROM prompts "
            "WHERE state = ? AND prompt_id = ?", (DONE, prompt_id))
        return _entry(rows[0]) if rows else None

    def delete_history(self, prompt_ids: list[str]) -> int:
        statements = [("DELETE FROM prompts WHERE prompt_id = ? AND state = ?", (pid, DONE)) for pid in prompt_ids]
        return sum(cursor.rowcount for cursor in self._transaction(statements))

    def clear_history(self) -> int:
        return self._transaction([("DELETE FROM prompts WHERE state = ?", (DONE,))])[0].rowcount

    def recover(self) -> list[str]:
        stopped = [item.prompt_id for item in self.running()]
        for prompt_id in stopped:
            message = ["execution_interrupted", {"prompt_id": prompt_id, "reason": INTERRUPTED_BY_SHUTDOWN,
                                                 "timestamp": int(time.time() * 1000)}]
            self.finish(prompt_id, {}, RunStatus("error", False, [message]))
        return stopped

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _item(row: tuple) -> QueueItem:
    number, prompt_id, prompt, extra_data, outputs_to_execute = row[:5]
    return QueueItem(number, prompt_id, json.loads(prompt), json.loads(extra_data), json.loads(outputs_to_execute))


def _status(text: str) -> RunStatus:
    status = json.loads(text)
    return RunStatus(status["status_str"], status["completed"], status["messages"])


def _entry(row: tuple) -> HistoryEntry:
    return HistoryEntry(_item(row), json.loads(row[5]), _status(row[6]))

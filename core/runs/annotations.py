"""A run's user annotations: tags, a note and the archived flag, in `<run>/annotations.json`.

What a person says about a run, as opposed to what its worker records: its own file
(ANNOTATIONS_JSON), written only by `synapse runs tag|note|archive` and the dashboard,
atomically (temp file + rename) under a lock on the run directory, so a running run can be
tagged while its worker writes manifest.json and events.jsonl. The run index reads it
(columns `tags`, `note`, `archived`; query fields `tag`, `note`, `archived`).

    tags      a set of short words: 1-32 of a-z 0-9 _ . : - (lower-cased), at most MAX_TAGS
    note      free text, at most NOTE_MAX characters, no control characters but newline and tab
    archived  out of the default listings (`runs ls --archived` / `--all` show it); the run
              directory does not move, so resume, remote mirrors and locks are untouched

A damaged annotations file reads as no annotations (the listings never fail on it); the
next write replaces it.

The test-touch ledger (TOUCH_LEDGER, `<runs root>/test_touches.jsonl`) keeps every look
at the test window of a deleted run: `append_touch_ledger` before the directory goes, one
JSON line per touch, fsync'd; `read_touch_ledger` reads it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.fsutil import atomic_write_text, fsync_dir
from core.runs.events import utc_now_ts
from core.runs.layout import ANNOTATIONS_JSON, MANIFEST_JSON, RunDir, load_json_file

TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,31}$")
TAG_RULE = "1-32 characters of a-z 0-9 _ . : - starting with a letter or digit"
MAX_TAGS = 32
NOTE_MAX = 2000
MAX_FILE_BYTES = 256 * 1024
TOUCH_LEDGER = "test_touches.jsonl"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Annotations:
    tags: tuple[str, ...] = ()
    note: str = ""
    archived: bool = False
    archived_at: str | None = None
    updated: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tags": list(self.tags),
            "note": self.note,
            "archived": self.archived,
            "archived_at": self.archived_at,
            "updated": self.updated,
        }


# --------------------------------------------------------------------------- validation


def check_tag(tag: str) -> str:
    """A tag as stored (stripped, lower-cased); InputError naming the rule when it is not one."""
    if not isinstance(tag, str):
        raise InputError(f"a tag is text, not {type(tag).__name__}")
    t = tag.strip().lower()
    if not TAG_RE.match(t):
        shown = tag if len(tag) <= 40 else tag[:39] + "…"
        raise InputError(f"bad tag {shown!r}: a tag is {TAG_RULE}")
    return t


def split_tags(items: Iterable[str]) -> list[str]:
    """Tags from what was typed: each item may be a comma or space separated list; each checked."""
    out: list[str] = []
    for item in items:
        for word in re.split(r"[,\s]+", item or ""):
            if word:
                t = check_tag(word)
                if t not in out:
                    out.append(t)
    return out


def check_note(note: str) -> str:
    """A note as stored (trailing whitespace stripped); InputError when too long or it holds
    control characters (a terminal escape in a note would reach every screen that shows it)."""
    if not isinstance(note, str):
        raise InputError(f"a note is text, not {type(note).__name__}")
    text = note.replace("\r\n", "\n").rstrip()
    if len(text) > NOTE_MAX:
        raise InputError(f"note too long: {len(text)} characters, at most {NOTE_MAX}")
    bad = _CONTROL.search(text)
    if bad:
        raise InputError(f"note holds a control character ({bad.group()!r}); only newlines and tabs are allowed")
    return text


# --------------------------------------------------------------------------- reading


def _parse(obj: Any) -> Annotations:
    """What can be used of a parsed annotations file (anything malformed is dropped)."""
    if not isinstance(obj, dict):
        return Annotations()
    tags: list[str] = []
    raw_tags = obj.get("tags")
    for t in raw_tags if isinstance(raw_tags, list) else []:
        if isinstance(t, str) and TAG_RE.match(t) and t not in tags:
            tags.append(t)
    note = obj.get("note")
    note = note if isinstance(note, str) and len(note) <= NOTE_MAX and not _CONTROL.search(note) else ""
    at = obj.get("archived_at")
    upd = obj.get("updated")
    return Annotations(
        tags=tuple(sorted(tags[:MAX_TAGS])),
        note=note,
        archived=obj.get("archived") is True,
        archived_at=at if isinstance(at, str) else None,
        updated=upd if isinstance(upd, str) else None,
    )


def read_annotations(run: RunDir | str | os.PathLike) -> Annotations:
    """The run's annotations; none when the file is missing, unreadable or malformed."""
    path = (run.path if isinstance(run, RunDir) else Path(run)) / ANNOTATIONS_JSON
    try:
        obj = load_json_file(path, max_bytes=MAX_FILE_BYTES)
    except (OSError, ValueError):
        return Annotations()
    return _parse(obj)


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on the run directory itself (no lock file added to the run): two
    edits at once (the CLI and the dashboard) each read the other's result."""
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):  # a file system without flock: the rename is still atomic
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_annotations(
    run: RunDir,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    tags: Iterable[str] | None = None,
    note: str | None = None,
    archived: bool | None = None,
) -> Annotations:
    """Change the run's annotations and return them: `tags` replaces the set, else `add` and
    `remove` edit it; `note` replaces the note ("" clears it); `archived` sets the flag.

    Every tag and the note are checked first (InputError: nothing is written). Written
    atomically under a lock on the run directory; never touches the files the worker writes.
    """
    if not run.path.is_dir():
        raise InputError(f"run {run.run_id}: no such run directory", path=run.path)
    new_tags = None if tags is None else split_tags(tags)
    adds, removes = split_tags(add), split_tags(remove)
    new_note = None if note is None else check_note(note)
    with _locked(run.path):
        cur = read_annotations(run)
        ts = set(cur.tags) if new_tags is None else set(new_tags)
        ts |= set(adds)
        ts -= set(removes)
        if len(ts) > MAX_TAGS:
            raise InputError(f"run {run.run_id}: at most {MAX_TAGS} tags, this would make {len(ts)}")
        arch = cur.archived if archived is None else archived
        now = utc_now_ts()
        out = Annotations(
            tags=tuple(sorted(ts)),
            note=cur.note if new_note is None else new_note,
            archived=arch,
            archived_at=(cur.archived_at if cur.archived else now) if arch else None,
            updated=now,
        )
        text = json.dumps(out.as_dict(), indent=2, ensure_ascii=False) + "\n"
        try:
            atomic_write_text(run.path / ANNOTATIONS_JSON, text)
        except OSError as exc:
            raise InputError(f"cannot write {ANNOTATIONS_JSON}: {exc.strerror or exc}", path=run.path) from None
    return out


# --------------------------------------------------------------------------- the test-touch ledger


def run_touches(run: RunDir) -> tuple[list[dict], str | None]:
    """(the run's test touches from its manifest, a problem when they cannot all be read)."""
    if not run.manifest_json.exists():
        return [], None
    man, problems = run.read_manifest_fields()
    touches = man.get("test_touches")
    bad = [p for p in problems if p.startswith("test_touches")]
    if not man and problems:
        return [], "; ".join(problems)
    if bad:
        return [], "; ".join(bad)
    return [t for t in touches if isinstance(t, dict)] if isinstance(touches, list) else [], None


def ledger_entries(run: RunDir) -> list[dict]:
    """The ledger lines that keep `run`'s test touches: one per touch, with the run id, its name,
    config hash and data sha256; one `unreadable` line when its manifest cannot say."""
    touches, problem = run_touches(run)
    man, _ = run.read_manifest_fields() if run.manifest_json.exists() else ({}, [])
    raw = man.get("data")
    data: dict = raw if isinstance(raw, dict) else {}
    base = {
        "run_id": run.run_id,
        "name": run.name or None,
        "config_hash": man.get("config_hash") if isinstance(man.get("config_hash"), str) else None,
        "data_sha256": data.get("sha256") if isinstance(data.get("sha256"), str) else None,
        "deleted": utc_now_ts(),
    }
    if problem is not None:
        return [{**base, "ts": None, "what": None, "unreadable": f"{MANIFEST_JSON}: {problem}"}]
    return [{**base, "ts": t.get("ts"), "what": t.get("what")} for t in touches]


def append_touch_ledger(root: str | os.PathLike, entries: list[dict]) -> Path:
    """Append `entries` to `<root>/test_touches.jsonl` in one write, fsync'd (and the folder, when
    the file is new), under an flock so deletes at once never interleave their lines.
    OSError when it cannot be written (then the caller must not delete the run)."""
    path = Path(root) / TOUCH_LEDGER
    if not entries:
        return path
    data = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries).encode("utf-8")
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except (ImportError, OSError):  # no flock here: one O_APPEND write is still whole
            pass
        # A torn last line (a crash mid-append) must not swallow the first new line.
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_dir(path.parent)
    return path


def read_touch_ledger(root: str | os.PathLike) -> list[dict]:
    """Every entry of the ledger (a torn or malformed line is skipped)."""
    path = Path(root) / TOUCH_LEDGER
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    out = []
    for line in raw.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and isinstance(e.get("run_id"), str):
            out.append(e)
    return out


__all__ = [
    "ANNOTATIONS_JSON",
    "Annotations",
    "MAX_TAGS",
    "NOTE_MAX",
    "TAG_RULE",
    "TOUCH_LEDGER",
    "append_touch_ledger",
    "check_note",
    "check_tag",
    "ledger_entries",
    "read_annotations",
    "read_touch_ledger",
    "run_touches",
    "split_tags",
    "update_annotations",
]

"""What the runs screen's run-management keys say and do, apart from the screen: why a key does
not apply (x, R, A, D), the checks of a tag or note typed (#, i), the questions asked before
archiving or deleting, and the work each does once confirmed. The work functions run in the
screen's thread workers, read and write through core.service, and return the message to show
(an InputError is the refusal to show instead).
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.runs.status import ACTIVE_STATUSES, DAMAGED_LOG, RESUMABLE_STATUSES


# ---------------------------------------------------------------------- refusals
def job_action_refusal(what: str, run_id: str, status: str | None, error: str | None = None) -> str | None:
    """Why `what` ("cancel" or "resume") does not apply to a run in `status`, or None when it does.

    The rule of core.runs' status vocabulary: only an active run (ACTIVE_STATUSES) cancels,
    only a RESUMABLE_STATUSES run resumes, and a run whose log lost its last line after it
    finished (its error says DAMAGED_LOG) does not: resuming would train it again."""
    if what == "resume" and status == "lost" and (error or "").startswith(DAMAGED_LOG):
        return f"run {run_id}: {error}"
    status = status or "not read yet"
    if what == "cancel" and status not in ACTIVE_STATUSES:
        return f"run {run_id} {status}: nothing to cancel"
    if what == "resume" and status not in RESUMABLE_STATUSES:
        *most, last = RESUMABLE_STATUSES
        return f"run {run_id} {status}: only {', '.join(most)} or {last} runs resume"
    return None


def active_refusal(rows: dict[str, dict], keys: list[str], what: str) -> str | None:
    """Why `what` (delete, archive) does not apply: a queued or running run (cancel it first)."""
    for key in keys:
        status = (rows.get(key) or {}).get("status")
        if status in ACTIVE_STATUSES:
            return f"run {key} is {status}: cancel it first (x); nothing was {what}"
    return None


# ---------------------------------------------------------------------- what is typed, what is asked
def tags_error(text: str) -> str | None:
    """Why `text` (tags, space or comma between them) is not a run's tags, or None."""
    from core.runs.annotations import MAX_TAGS, split_tags

    try:
        tags = split_tags([text])
    except InputError as exc:
        return str(exc)
    return f"at most {MAX_TAGS} tags" if len(tags) > MAX_TAGS else None


def note_error(text: str) -> str | None:
    """Why `text` is not a run's note, or None."""
    from core.runs.annotations import check_note

    try:
        check_note(text)
    except InputError as exc:
        return str(exc)
    return None


def archive_question(keys: list[str], unarchive: bool) -> str:
    what = "Unarchive" if unarchive else "Archive"
    runs = keys[0] if len(keys) == 1 else f"{len(keys)} runs"
    detail = (
        "It comes back into the default listing."
        if unarchive
        else "It leaves the table and `runs ls` (H or `runs ls --archived` shows it); nothing is deleted."
    )
    return f"{what} {runs}?\n{detail}"


def delete_question(keys: list[str], touches: int, runs_dir: Path) -> str:
    runs = f"run {keys[0]}" if len(keys) == 1 else f"{len(keys)} runs"
    return (
        f"Delete {runs}? The run directory is removed for good.\n"
        f"Its test touches ({touches}) are kept in {runs_dir / 'test_touches.jsonl'} "
        "(`synapse runs touches`). To keep a run out of sight but whole, archive it (A)."
    )


# ---------------------------------------------------------------------- the work (in a thread worker)
def job_action(runs_dir: Path, what: str, run_id: str) -> str:
    """Cancel a run or resume it detached; the message to show."""
    from core.service import jobs
    from core.service.runs import open_run

    rd = open_run(run_id, runs_dir)
    out = jobs.cancel(rd) if what == "cancel" else jobs.resume_detached(rd)
    return f"{run_id}: " + (out["message"] if what == "cancel" else f"attempt {out['attempt']} started")


def annotate_run(runs_dir: Path, run_id: str, *, tags: str | None = None, note: str | None = None) -> str:
    """Save a run's tags (as typed) or its note; the message to show."""
    from core.service.runs import annotate, open_run

    rd = open_run(run_id, runs_dir)
    out = annotate([rd], runs_dir, tags=None if tags is None else [tags], note=note)[0]
    if tags is not None:
        return f"{run_id}: " + (f"tags {' '.join(out['tags'])}" if out["tags"] else "no tags")
    return f"{run_id}: note " + ("saved" if out["note"] else "cleared")


def manage_runs(runs_dir: Path, what: str, run_ids: list[str]) -> str:
    """Delete, archive or unarchive runs; the message to show."""
    from core.service import runs as service

    rds = service.open_runs(run_ids, runs_dir)
    if what == "delete":
        service.check_deletable(rds)
        kept = sum(service.delete_run(rd, runs_dir)["touches"] for rd in rds)
        return f"deleted {', '.join(run_ids)}" + (
            f" · {kept} test touch{'es' if kept != 1 else ''} kept in test_touches.jsonl" if kept else ""
        )
    service.set_archived(rds, runs_dir, what == "archive")
    return f"{what}d {', '.join(run_ids)}" + (" (H shows archived runs)" if what == "archive" else "")

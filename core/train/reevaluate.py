"""`synapse eval RUN`: evaluate a finished run again from its stored predictions."""

from __future__ import annotations

import numpy as np

from core.config import Config, dump_yaml
from core.data import resolve_data_path
from core.data.splits import Split
from core.errors import InputError
from core.evaluation.evaluate import Scored, Windows, evaluate_scorers
from core.models.baselines import BASELINES
from core.runs import RunDir, record_test_touch
from core.train.artifacts import write_artifacts
from core.train.prepare import Progress, quiet


def reevaluate(run: RunDir, cfg: Config, *, progress: Progress = quiet) -> dict:
    """`synapse eval RUN`: re-fit calibration / recompute metrics from the stored predictions.

    Uses only predictions.npz (validation and test logits and labels), so it needs no model
    and no data file; the test touch is recorded.
    """
    if not run.predictions_npz.exists():
        raise InputError("no predictions.npz: the run has not finished an evaluation", path=run.path)
    with np.load(run.predictions_npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    man = run.read_json("manifest.json")
    names = sorted({k.split("__")[0] for k in arrays if "__logits_val" in k})
    roles = {n: ("baseline" if n in BASELINES else "model") for n in names}
    truth = None
    if man.get("data", {}).get("truth"):
        tpath = resolve_data_path(man["data"]["truth"])
        if tpath.exists():
            with np.load(tpath, allow_pickle=False) as z:
                tdates, tr = z["dates"].astype("datetime64[D]"), z["truth"]
            pos = {d: i for i, d in enumerate(tdates.tolist())}
            try:
                truth = (
                    tr[[pos[d] for d in arrays["dates_val"].tolist()]],
                    tr[[pos[d] for d in arrays["dates_test"].tolist()]],
                )
            except KeyError:
                truth = None
    split_info = man["splits"][-1]
    win = Windows(
        base_rate=arrays["base_rate"],
        y_val=arrays["y_val"],
        y_test=arrays["y_test"],
        dates_val=arrays["dates_val"],
        dates_test=arrays["dates_test"],
        truth_val=None if truth is None else truth[0],
        truth_test=None if truth is None else truth[1],
    )
    scored = [
        Scored(
            n,
            n,
            roles[n],
            arrays[f"{n}__logits_val"].astype(np.float64),
            arrays[f"{n}__logits_test"].astype(np.float64),
        )
        for n in names
    ]
    progress(f"re-evaluating {len(scored)} scorer(s) on fold {split_info['fold']}")
    out = evaluate_scorers(scored, win, cfg)
    touches = len(man.get("test_touches", []))
    eval_id = f"eval-{touches}"
    what = (
        f"synapse eval ({eval_id}): calibration={cfg.calibration.method}"
        f"{'/part' if cfg.calibration.per_part else '/global'}, k={list(cfg.eval.k)}"
    )
    man = record_test_touch(run, what)
    run.write_text("config.yaml", dump_yaml(cfg))
    split = Split(
        split_info["fold"],
        (split_info["train"]["start"], split_info["train"]["stop"]),
        (split_info["val"]["start"], split_info["val"]["stop"]),
        (split_info["test"]["start"], split_info["test"]["stop"]),
    )
    with run.event_writer() as events:
        result = write_artifacts(
            run, man, dump_yaml(cfg), [(split, out)], eval_id=eval_id, events=events, progress=progress
        )
        events.evaluated(result["summary"], eval_id=eval_id)
    return {"eval_id": eval_id, "report": out.report, "test_touches": len(man["test_touches"])}

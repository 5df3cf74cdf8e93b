"""The `ensemble` kind: finished runs' predictions combined, calibrated and evaluated.

Each member is a finished run in the same runs dir on the same data file (sha256) and the
same last split. Its primary scorer's pre-calibration logits on the validation and test
windows (predictions.npz) are stacked: z = sum_m a_m z_m + b with a_m >= 0 (softplus)
and one bias b, fitted by L-BFGS on the log-loss of the first `inner_fraction` of
the validation window only. The combined logits then go through the same calibration
(fitted on validation) and evaluation as any model; the test window is read once, at the
end, like every run. The manifest names every member run, its primary and config hash.
"""

from __future__ import annotations

import numpy as np
import torch

from core.runs.status import status_phrase
from core.config import Config
from core.errors import InputError
from core.evaluation.evaluate import Scored, evaluate_scorers
from core.runs import RunDir, record_test_touch, status_of
from core.train.artifacts import log_calibration, write_artifacts
from core.train.prepare import Prepared, Progress, baseline_logits, quiet, scored_from_logits, windows


def member_runs(cfg: Config, root, prep: Prepared) -> list[dict]:
    """The members as {"run", "primary", "config_hash"}; InputError naming the first that
    is not a finished run on this data and split."""
    split = prep.splits[-1].to_manifest(prep.data.dates)
    out = []
    for ref in cfg.model.members:
        try:
            run = RunDir.open(root, ref)
        except InputError as exc:
            raise InputError(f"ensemble member {ref!r}: {exc}") from None
        st = status_of(run)
        if st.status != "succeeded":
            raise InputError(f"ensemble member {run.run_id} {status_phrase(st.status)}; members must have succeeded")
        man = run.read_json("manifest.json", default={}) or {}
        if (man.get("data") or {}).get("sha256") != prep.data.sha256:
            raise InputError(
                f"ensemble member {run.run_id} was trained on another data file "
                f"(sha256 {str((man.get('data') or {}).get('sha256'))[:12]}, this one "
                f"{prep.data.sha256[:12]})"
            )
        if (man.get("splits") or [None])[-1] != split:
            raise InputError(
                f"ensemble member {run.run_id} has another split; set the ensemble's split.* "
                "to the members' (its config.yaml shows them)"
            )
        if not run.predictions_npz.exists():
            raise InputError(f"ensemble member {run.run_id} has no predictions.npz")
        with np.load(run.predictions_npz) as npz:
            primary = str(npz["primary"]) if "primary" in npz.files else None
        report = run.read_json("report.json", default={}) or {}
        primary = report.get("primary") or primary
        if primary is None:
            raise InputError(f"ensemble member {run.run_id} names no primary scorer")
        out.append({"run": run, "primary": primary, "config_hash": man.get("config_hash")})
    return out


def fit_weights(z_val: np.ndarray, y_val: np.ndarray, inner_fraction: float, iters: int = 200) -> dict:
    """Stacking weights on the first `inner_fraction` of the validation rows.

    z_val: (M, Tv, P) members' logits; y_val: (Tv, P). Returns {"weights": (M,), "bias": (P,),
    "rows": n} with z = sum_m weights[m] z_val[m] + bias; the bias is one number for every
    part (repeated P times). A bias per part, fitted on half a validation window (150-1,000
    days on the quality suite), overfitted: the ensemble's Brier skill fell below its best
    member's on every set tried (faint 0.0037 against the shared bias's 0.0051, short 0.0190
    against 0.0222); the members already carry each part's base rate.
    """
    M, Tv, P = z_val.shape
    n = max(1, int(round(Tv * inner_fraction)))
    z = torch.as_tensor(z_val[:, :n], dtype=torch.float64)
    y = torch.as_tensor(y_val[:n], dtype=torch.float64)
    raw = torch.full((M,), float(np.log(np.expm1(1.0 / M))), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([raw, bias], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        a = torch.nn.functional.softplus(raw)
        logits = torch.einsum("m,mtp->tp", a, z) + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        a = torch.nn.functional.softplus(raw).numpy()
    return {"weights": a, "bias": np.full(P, float(bias.detach()[0])), "rows": n}


def ensemble_body(
    run: RunDir, cfg: Config, prep: Prepared, cfg_yaml: str, events, *, progress: Progress = quiet
) -> None:
    members = member_runs(cfg, run.path.parent, prep)
    split = prep.splits[-1]
    win = windows(prep, split)
    z_val, z_test = [], []
    for m in members:
        with np.load(m["run"].predictions_npz) as npz:
            key = f"{m['primary']}__logits"
            if not np.array_equal(npz["y_val"], win.y_val) or not np.array_equal(npz["y_test"], win.y_test):
                raise InputError(f"ensemble member {m['run'].run_id}: its windows' outcomes differ from this data's")
            z_val.append(npz[f"{key}_val"])
            z_test.append(npz[f"{key}_test"])
    progress(f"ensemble of {len(members)}: fitting weights on the first {cfg.model.inner_fraction:.0%} of validation")
    fit = fit_weights(np.stack(z_val), win.y_val.astype(np.float64), cfg.model.inner_fraction)
    combine = lambda zs: np.einsum("m,mtp->tp", fit["weights"], np.stack(zs)) + fit["bias"]  # noqa: E731
    weights = {m["run"].run_id: round(float(w), 6) for m, w in zip(members, fit["weights"])}
    events.log("info", f"ensemble weights (fitted on {fit['rows']} validation days): {weights}")
    scored = scored_from_logits(baseline_logits(cfg, prep.data.Y), split, lambda n: "baseline")
    scored.append(Scored("ensemble", "ensemble", "model", combine(z_val), combine(z_test)))
    progress("calibrating on validation, evaluating")
    out = evaluate_scorers(scored, win, cfg)
    log_calibration(events, out, split)
    man = run.read_json("manifest.json")
    man["members"] = [
        {
            "run_id": m["run"].run_id,
            "primary": m["primary"],
            "config_hash": m["config_hash"],
            "weight": weights[m["run"].run_id],
        }
        for m in members
    ]
    man["ensemble"] = {"inner_rows": fit["rows"], "bias": [float(b) for b in fit["bias"]]}
    run.write_json("manifest.json", man)
    man = record_test_touch(
        run, f"ensemble of {len(members)} runs and {len(scored) - 1} baselines evaluated on the last test window"
    )
    result = write_artifacts(
        run, man, cfg_yaml, [(split, out)], eval_id="run", events=events, progress=progress, epochs=[]
    )
    events.evaluated(result["summary"])

"""Reading a checkpoint someone may have damaged or crafted (docs/ARCHITECTURE.md, "A run directory").

`torch.load(weights_only=True)` only: nothing is unpickled beyond tensors and plain values.
Its failures are turned into messages of our own that say what is wrong with the file
(empty, truncated, not a torch checkpoint, holds objects) and never repeat torch's advice
to load with ``weights_only=False``, which would run code from the file. Weights whose names
or shapes do not fit the model are refused naming the tensor, before `load_state_dict`.
"""

from __future__ import annotations

import os
import pickle
import re
import stat
from pathlib import Path
from typing import Any

from core.errors import InputError

# torch names the refused global ("Unsupported global: GLOBAL a.b", "unsupported GLOBAL a.b whose ...").
_GLOBAL = re.compile(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]{1,120})")


def read_checkpoint(path: Path, map_location: Any = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`, every failure an InputError naming the file."""
    import torch

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO's open would wait for a writer
    except OSError as exc:
        raise InputError(f"cannot read the checkpoint ({exc.strerror or exc})", path=path) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError("the checkpoint is not a regular file", path=path)
    size = st.st_size
    with os.fdopen(fd, "rb") as fh:
        if size == 0:
            raise InputError("the checkpoint is empty (0 bytes)", path=path)
        try:
            return torch.load(fh, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            found = _GLOBAL.search(str(exc))
            if found is None:  # e.g. "Unsupported operand": bytes that are no pickle at all
                raise InputError(
                    f"the checkpoint is truncated or not a torch checkpoint ({size:,} bytes)", path=path
                ) from None
            raise InputError(
                f"the checkpoint holds Python objects ({found.group(1)}), not only tensors and plain values; "
                "refused: checkpoints are read with weights_only=True and nothing else is unpickled",
                path=path,
            ) from None
        except Exception:  # noqa: BLE001 — zip, EOF, seek, key and runtime errors of a damaged file
            raise InputError(
                f"the checkpoint is truncated or not a torch checkpoint ({size:,} bytes)", path=path
            ) from None


def check_state(model: Any, state: Any, path: Path, what: str = "model_state") -> None:
    """Refuse weights that are not exactly the model's: a missing, extra or wrong-shaped tensor
    is named (load_state_dict would fail later with a traceback, or a shape mismatch deep in
    a forward pass)."""
    import torch

    if not isinstance(state, dict):
        raise InputError(f"the checkpoint's {what} is a {type(state).__name__}, not a mapping of tensors", path=path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise InputError(
            f"the checkpoint's {what} lacks the tensor {missing[0]!r}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + " that the model needs",
            path=path,
        )
    extra = [str(k) for k in state if k not in expected]
    if extra:
        raise InputError(
            f"the checkpoint's {what} has a tensor {extra[0][:120]!r} the model does not have"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""),
            path=path,
        )
    for name, want in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor):
            raise InputError(f"the checkpoint's {what}[{name!r}] is a {type(got).__name__}, not a tensor", path=path)
        if tuple(got.shape) != tuple(want.shape):
            raise InputError(
                f"the checkpoint's tensor {name!r} has shape {tuple(got.shape)} but the model's is "
                f"{tuple(want.shape)} (a checkpoint of another model or config)",
                path=path,
            )

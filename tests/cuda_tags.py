"""Write a checkpoint as a CUDA machine would, without one: every CPU tensor's storage is
tagged "cuda:0" in the file, so a plain ``torch.load`` here fails and only a
``map_location`` to the CPU reads it back."""

from pathlib import Path

import torch
import torch.serialization as ser


def save_tagged_cuda(obj, path: Path) -> None:
    registry = list(ser._package_registry)
    ser.register_package(
        0,
        lambda o: "cuda:0" if getattr(o, "device", None) is not None and o.device.type == "cpu" else None,
        lambda o, location: None,
    )
    try:
        torch.save(obj, path)
    finally:
        ser._package_registry[:] = registry

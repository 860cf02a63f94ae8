"""Device strings checked before anything is loaded: one validator for every ``device=``.

``surprisal.load``, :class:`surprisal.LM` and every verb that takes ``model=`` and
``device=`` (``score``, ``score_iter``, ``delta``, the grammar experiments, the CLI's
``--device``) route the device through :func:`check_device`, so a device this machine does
not have fails at once with the devices it does have, instead of after the weights are
read (``"cuda"`` without CUDA) or with a list of every device type torch knows (``"gpu"``).

>>> check_device("cpu")
device(type='cpu')
>>> check_device(None) is None
True
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import SurprisalError

__all__ = ["available_devices", "check_device", "check_same_device"]

# Device types a user may mean, with the name torch uses for them.
_ALIASES = {"gpu": "cuda", "nvidia": "cuda", "metal": "mps", "apple": "mps"}


def available_devices() -> list[str]:
    """The devices this process can run on: ``cpu``, then ``cuda:0``... and ``mps``/``xpu``
    where torch finds them."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        out += [f"xpu:{i}" for i in range(xpu.device_count())]
    return out


def _unavailable(device: object, why: str) -> SurprisalError:
    return SurprisalError(
        f"device {device!r} {why}; this machine has: {', '.join(available_devices())}. "
        "Pass one of those (or leave device unset: CUDA when there is a GPU, else CPU)."
    )


def check_device(device: Any) -> torch.device | None:
    """``device`` as a ``torch.device`` that this machine has, or None for None.

    Accepts a ``torch.device``, a string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``)
    or a CUDA index (``0``).

    Raises:
        SurprisalError: a string torch does not read as a device (``"gpu"``: did you mean
            ``"cuda"``?), a device type this machine lacks, or a CUDA index past the last
            GPU; the message lists the devices available.
        TypeError: ``device`` is neither.
    """
    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(
            f"device must be a string such as 'cpu' or 'cuda:0', a torch.device or a CUDA "
            f"index, got {type(device).__name__} ({device!r:.40})"
        )
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, int):
        if device < 0:
            raise _unavailable(device, "is a negative CUDA index")
        dev = torch.device("cuda", device)
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError, TypeError):
            typed = str(device).split(":")[0].strip().lower()
            hint = f" (did you mean {_ALIASES[typed]!r}?)" if typed in _ALIASES else ""
            raise _unavailable(device, f"is not a device name{hint}") from None
    kind = dev.type
    if kind == "cpu":
        return dev
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise _unavailable(device, "needs CUDA, which this torch build or machine lacks")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise _unavailable(device, f"is past the last GPU ({torch.cuda.device_count()} found)")
        return dev
    if kind == "meta":
        raise SurprisalError(
            "device 'meta' holds no weights, so nothing can be scored there; pass a real "
            f"device: {', '.join(available_devices())}"
        )
    backend = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    is_available = getattr(backend, "is_available", None)
    if not callable(is_available) or not is_available():
        raise _unavailable(device, f"is a {kind} device, which this machine does not have")
    return dev


def check_same_device(device: Any, loaded: torch.device, what: str = "the model") -> None:
    """Refuse a ``device=`` that contradicts where ``what`` already is (a loaded LM cannot
    be moved per call: other calls share it). ``"cuda"`` without an index matches any GPU.
    """
    dev = check_device(device)
    if dev is None:
        return
    same = dev.type == loaded.type and (dev.index is None or dev.index == (loaded.index or 0))
    if not same:
        raise SurprisalError(
            f"device={str(device)!r} but {what} is already loaded on {loaded}; a loaded "
            "model is not moved per call. Drop device=, or load it there: "
            f"surprisal.load(name, device={str(device)!r})."
        )

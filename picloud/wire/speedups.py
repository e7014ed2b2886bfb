"""The optional C accelerators of the wire formats, and whether they loaded.

The innermost loops (websocket frames, MQTT packets, publish frames) have a
C twin in an extension module beside their Python module, built by setup.py
where a compiler is at hand (``optional=True``: an install without one gets
the pure-Python code, which stays the reference and is tested byte for byte
against the C one). ``load`` is how a module asks for its twin; the
``picloud --version`` line and the hub's start-up log say what was found.

``PICLOUD_PURE_PYTHON=1`` turns every accelerator off (the suite's second
pass in CI runs so), as python-websockets' ``WEBSOCKETS_NO_SPEEDUPS`` does.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

DISABLE_ENV = "PICLOUD_PURE_PYTHON"

#: Extension module name -> whether it loaded, for every module that asked.
LOADED: dict[str, bool] = {}
#: Why each one that did not load did not: "not built" where there is no such
#: module, else the import's error (a twin built for another Python, say).
MISSING: dict[str, str] = {}
NOT_BUILT = "not built"


def disabled() -> bool:
    """Whether the environment asks for the pure-Python code."""
    return os.environ.get(DISABLE_ENV, "") not in ("", "0")


def load(name: str) -> ModuleType | None:
    """The extension module ``name`` (``picloud.wire._frames``), or None
    when it is not built or ``PICLOUD_PURE_PYTHON`` is set."""
    module: ModuleType | None = None
    if disabled():
        MISSING.setdefault(name, f"{DISABLE_ENV} is set")
    else:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            MISSING.setdefault(name, NOT_BUILT if exc.name == name else f"{_short(name)}: {exc}")
    LOADED[name] = module is not None
    return module


def describe() -> str:
    """One phrase for the version and start-up lines, e.g. ``C speedups:
    frames, packets`` or ``pure Python (PICLOUD_PURE_PYTHON is set)``."""
    _load_all()
    on = sorted(_short(name) for name, ok in LOADED.items() if ok)
    if on and len(on) == len(LOADED):
        return "C speedups: " + ", ".join(on)
    absent = sorted(_short(name) for name, why in MISSING.items() if why == NOT_BUILT)
    reasons = sorted({why for why in MISSING.values() if why != NOT_BUILT})
    if absent:
        reasons.insert(0, f"{NOT_BUILT}: {', '.join(absent)}")
    if on:
        return f"C speedups: {', '.join(on)}; pure Python for the rest ({'; '.join(reasons)})"
    return f"pure Python ({'; '.join(reasons) or 'no C speedups'})"


#: The modules that ask for a twin: imported by describe() so that the
#: answer does not depend on what happened to be imported first.
USERS = ("picloud.wire.frameparser", "picloud.wire.scan", "picloud.wire.stamp", "picloud.wire.mqtt.parser")


def _short(name: str) -> str:
    """``picloud.wire._frames`` -> ``frames``."""
    return name.rpartition("._")[2]


def _load_all() -> None:
    for user in USERS:
        importlib.import_module(user)

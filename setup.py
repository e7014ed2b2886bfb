"""setup.cfg holds the metadata; this adds the optional C accelerators
(picloud/wire/speedups.py), which setup.cfg cannot declare."""

import os

from setuptools import Extension, setup

# optional=True: without a compiler (or headers) the build warns and the
# pure-Python code is used. PICLOUD_PURE_PYTHON=1 at build time builds none,
# for a wheel that installs on any machine.
# depends: a change to the shared header rebuilds the twins that include it.
SPEEDUPS = [
    Extension(name, [source], optional=True, extra_compile_args=["-O2"], depends=["picloud/wire/_slots.h"])
    for name, source in [
        ("picloud.wire._frames", "picloud/wire/_frames.c"),
        ("picloud.wire._publish", "picloud/wire/_publish.c"),
        ("picloud.wire._messages", "picloud/wire/_messages.c"),
        ("picloud.wire.mqtt._packets", "picloud/wire/mqtt/_packets.c"),
    ]
]

setup(ext_modules=[] if os.environ.get("PICLOUD_PURE_PYTHON", "") not in ("", "0") else SPEEDUPS)

"""``Setting``: one row of the settings table in picloud/config.py.

A row says everything about one setting once: its default, its type and
bounds, its environment variable, its help and its group. The same object is
the descriptor of the setting's attribute on ``Config``, so that mypy reads
``config.port`` as an ``int`` from the row's default alone. picloud/cli.py
makes the ``picloud serve`` options from the rows and picloud/settings_docs.py
the docs; neither knows any setting by name.

Standard library only: the protocol-neutral core imports the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Literal, TypeVar, cast, overload

T = TypeVar("T")

# The type of a value as the command line reads it. "file" is a file name kept
# as a str (TLS files, key files), "dir" a directory kept as a Path.
Kind = Literal["int", "float", "str", "bool", "choice", "file", "dir"]
KINDS = ("int", "float", "str", "bool", "choice", "file", "dir")
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
    "choice": (str,), "file": (str,), "dir": (Path,),
}
# The order of --help and the docs. Groups no row uses yet are left out of
# both, so that a setting of a later layer (mqtt, store) is one row and nothing
# else.
GROUPS = ("network", "security", "limits", "history and retained", "cluster", "mqtt", "store", "logging")


class Setting(Generic[T]):
    """One setting: a row of the table, and the descriptor of its attribute.

    On the class (``Config.port``) it is the row; on an instance
    (``config.port``) the value, kept in the instance's ``__dict__`` and
    read from there as any attribute is (see ``__get__``).
    """

    name: str
    env: str

    @overload
    def __init__(
        self, default: T, *, kind: Kind, group: str, help: str, env: str | None = None,
        minimum: float | None = None, maximum: float | None = None, choices: tuple[str, ...] = (),
        ignore_case: bool = False, repeatable: bool = False, any_value: bool = False,
        shown: str | None = None, example: str | None = None, doc: str = "", aliases: tuple[str, ...] = (),
    ) -> None: ...

    @overload
    def __init__(
        self, *, factory: Callable[[], T], shown: str, kind: Kind, group: str, help: str,
        env: str | None = None, minimum: float | None = None, maximum: float | None = None,
        choices: tuple[str, ...] = (), ignore_case: bool = False, repeatable: bool = False,
        any_value: bool = False, example: str | None = None, doc: str = "", aliases: tuple[str, ...] = (),
    ) -> None: ...

    def __init__(
        self, default: Any = None, *, factory: Callable[[], T] | None = None, kind: Kind, group: str,
        help: str, env: str | None = None, minimum: float | None = None, maximum: float | None = None,
        choices: tuple[str, ...] = (), ignore_case: bool = False, repeatable: bool = False,
        any_value: bool = False, shown: str | None = None, example: str | None = None, doc: str = "",
        aliases: tuple[str, ...] = (),
    ) -> None:
        """``default`` is the value, or ``factory`` makes it for each ``Config``
        (one that reads the environment, say), with ``shown`` saying in the docs
        what it makes. ``shown`` also stands in the docs for a default of
        ``None`` or nothing ("every interface"). ``env`` is PICLOUD_<NAME>
        unless given. ``minimum``/``maximum`` bound an int or float (inclusive),
        ``choices`` a choice. ``repeatable``: the option may be given more than
        once, and the value is a tuple (the environment variable space-separated).
        ``any_value``: a bool whose environment variable turns it on with any
        non-empty value (the seed's USE_TLS); its option then also has a
        ``--no-`` form to turn it off. ``example`` is the value shown in
        etc/default/picloud where the default is not the one to show. ``doc``
        is commentary beyond the help line, for the docs. ``aliases`` are
        former names still read, as option and PICLOUD_ variable, after the
        setting's own."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}")
        if choices and kind != "choice":
            raise ValueError(f"choices go with kind 'choice', not {kind!r}")
        if kind == "choice" and not choices:
            raise ValueError("kind 'choice' needs choices")
        if (minimum is not None or maximum is not None) and kind not in ("int", "float"):
            raise ValueError(f"bounds go with kind 'int' or 'float', not {kind!r}")
        if any_value and kind != "bool":
            raise ValueError(f"any_value goes with kind 'bool', not {kind!r}")
        if ignore_case and kind != "choice":
            raise ValueError(f"ignore_case goes with kind 'choice', not {kind!r}")
        values = default if repeatable else (default,)
        if factory is None and default is not None and not (
            isinstance(values, tuple) and all(isinstance(v, PYTHON_TYPES[kind]) for v in values)
        ):
            raise ValueError(f"default {default!r} is not of kind {kind!r}")
        if default is not None and choices and default not in choices:
            raise ValueError(f"default {default!r} is not one of {choices}")
        self.default: T = cast(T, default)
        self.factory = factory
        self.kind = kind
        self.group = group
        self.help = help
        self.minimum = minimum
        self.maximum = maximum
        self.choices = choices
        self.ignore_case = ignore_case
        self.repeatable = repeatable
        self.any_value = any_value
        self.shown = shown
        self.example = example
        self.doc = doc
        self.aliases = aliases
        if env is not None:
            self.env = env

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if not hasattr(self, "env"):
            self.env = f"PICLOUD_{name.upper()}"

    if TYPE_CHECKING:
        # For mypy only. At run time the class has no __get__: a data
        # descriptor without one leaves instance reads to the instance's
        # __dict__ (a plain attribute lookup, where a __get__ would be a
        # Python call on every read of every setting, several per MQTT
        # connection), and a read on the class returns the row.
        @overload
        def __get__(self, obj: None, owner: type | None = None) -> Setting[T]: ...

        @overload
        def __get__(self, obj: object, owner: type | None = None) -> T: ...

        def __get__(self, obj: object, owner: type | None = None) -> Setting[T] | T: ...

    def __set__(self, obj: object, value: T) -> None:
        if self.kind == "dir":  # a directory is always a Path, whoever sets it
            value = cast(T, Path(cast(Any, value)))
        obj.__dict__[self.name] = value

    def make_default(self) -> T:
        return self.factory() if self.factory is not None else self.default

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def alias_options(self) -> list[str]:
        return ["--" + alias.replace("_", "-") for alias in self.aliases]

    @property
    def alias_envs(self) -> list[str]:
        return [f"PICLOUD_{alias.upper()}" for alias in self.aliases]

    @property
    def description(self) -> str:
        """The help, with what the other fields imply said in words."""
        notes = [self.help]
        if self.repeatable:
            notes.append(f"Repeatable; {self.env} takes them space-separated.")
        if self.any_value:
            notes.append(f"Any non-empty {self.env} turns it on.")
        if self.aliases:
            notes.append("Also " + " and ".join(f"{o} ({e})" for o, e in zip(self.alias_options, self.alias_envs))
                         + ", its former name.")
        return " ".join(notes)

    def __repr__(self) -> str:
        return f"<Setting {getattr(self, 'name', '?')}>"

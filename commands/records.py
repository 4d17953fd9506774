"""Frozen dataclasses made for less (``quick``), for the commands, events and states made on every request,
decision and delivery.

A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__``, a lookup and a call of
some 300 instructions a field, since its ``__setattr__`` refuses. ``quick`` gives the class an ``__init__`` of the
same parameters and defaults that puts all the fields into the instance's ``__dict__`` at once. The instance is the same
(equal, hashed and printed alike), and it is still frozen: assigning a field afterwards raises
``FrozenInstanceError`` as before, since that goes through the class's ``__setattr__``.
"""

import dataclasses
import inspect
from typing import Any, TypeVar

T = TypeVar("T")
#: Stands for "not given" where a field's default comes from a factory, as in the dataclass's own ``__init__``.
_NOT_GIVEN: Any = object()


def quick(cls: type[T]) -> type[T]:
    """``cls`` (a frozen dataclass whose fields are all plain, positional ``__init__`` parameters, without
    slots or ``__post_init__``) with the faster ``__init__``.

    Raises:
        TypeError: ``cls`` is anything else, whose ``__init__`` this would not reproduce.
    """
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls) if params else ()  # type: ignore[arg-type]
    made = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if (
        not (params and params.frozen and params.init)
        or "__slots__" in cls.__dict__
        or hasattr(cls, "__post_init__")
        or [(p.name, p.kind) for p in made] != [(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for f in fields]
    ):
        raise TypeError(f"quick: {cls.__name__} is not a frozen dataclass of plain fields")
    names: dict[str, Any] = {"_NOT_GIVEN": _NOT_GIVEN}
    args, items = [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            names[f"_default_{i}"] = f.default
            args.append(f"{f.name}=_default_{i}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory_{i}"] = f.default_factory
            args.append(f"{f.name}=_NOT_GIVEN")
            items.append(f"{f.name!r}: _factory_{i}() if {f.name} is _NOT_GIVEN else {f.name}")
            continue
        else:
            args.append(f.name)
        items.append(f"{f.name!r}: {f.name}")
    source = f"def __init__(self, {', '.join(args)}):\n    self.__dict__.update({{{', '.join(items)}}})\n"
    exec(source, names)  # noqa: S102 -- generated from the class's own field names, as dataclasses does
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls

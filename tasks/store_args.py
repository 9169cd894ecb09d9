"""pipedag.yaml's ``table_store.args`` checked against the table store class before anything runs.

pipedag passes the args to the store's constructor, so a misspelled one
(``create_database_if_not_exist``) surfaces on every run as ``TypeError: SQLTableStore.__init__()
got an unexpected keyword argument …`` naming neither file, instance nor fix, while ``stagehouse
check`` passed. This compares the args with the keyword arguments the class takes (``url`` being
its ``engine_url``) and its subclasses take; a class that takes any keyword is not checked.

Example::

    unknown_store_args(section, "local")
    # "pipedag.yaml instances.local.table_store.args: SQLTableStore takes no argument
    #  'create_database_if_not_exist'; did you mean create_database_if_not_exists? (arguments: …)"
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from pydiverse.common.util.import_ import import_object

URL_ARGUMENT = {"engine_url": "url"}  # SQLTableStore._init_conf_ passes args["url"] as engine_url


def unknown_store_args(section: dict[str, Any], instance: str) -> str | None:
    """The problem with the ``table_store.args`` of an instance's merged section, or None."""
    spec = section.get("table_store") or {}
    if not isinstance(spec, dict) or not isinstance(args := spec.get("args") or {}, dict) or "class" not in spec:
        return None
    try:
        store_class = import_object(spec["class"])
        parameters = [p for cls in _family(store_class) for p in _init_parameters(cls)]
    except (ImportError, AttributeError, TypeError, ValueError):
        return None  # pipedag names a class it cannot load itself
    if any(p.kind is p.VAR_KEYWORD for p in _init_parameters(store_class)):
        return None  # a subclass's **kwargs pass its parent's arguments on; the named class's take any
    accepted = sorted(
        {
            URL_ARGUMENT.get(p.name, p.name)
            for p in parameters
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
    )
    unknown = [name for name in args if name not in accepted]
    if not unknown:
        return None
    close = difflib.get_close_matches(str(unknown[0]), accepted, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return (
        f"pipedag.yaml instances.{instance}.table_store.args: {store_class.__name__} takes no argument "
        f"'{unknown[0]}'{hint} (arguments: {', '.join(accepted)})"
    )


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    """The parameters of the ``__init__`` a class runs (its own, else the nearest parent's)."""
    init = next(vars(k)["__init__"] for k in cls.__mro__ if "__init__" in vars(k))
    return list(inspect.signature(init).parameters.values())


def _family(store_class: type) -> list[type]:
    """The class and its subclasses: ``SQLTableStore`` builds the subclass of the URL's dialect,
    which may take more arguments."""
    found, todo = [], [store_class]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found

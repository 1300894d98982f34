"""Dataset packages: one per dataset, each defining `DATASET` (a components.dataset.Dataset).

    load("taxi")   -> the Chicago Taxi "big tipper" task (the default)
    load("penguins") -> Palmer penguins: predict a penguin's sex
"""

import pkgutil
from functools import cache
from importlib import import_module

from components.dataset import Dataset

DEFAULT = "taxi"


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


@cache
def load(name: str = DEFAULT) -> Dataset:
    if name not in names():
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(names())}")
    return import_module(f"{__name__}.{name}").DATASET

"""``KrknTrigger``: the provider's triggers serialize exactly what their ``__init__`` takes."""

from __future__ import annotations

import inspect
from typing import Any

from airflow.triggers.base import BaseTrigger


class KrknTrigger(BaseTrigger):
    """Base of the provider's triggers.

    A subclass takes keyword-only arguments and stores each under its own name;
    ``serialize()`` returns them all, read from the signature, so the triggerer rebuilds
    an equal trigger (``Trigger(**kwargs)``) and a new argument cannot be forgotten.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        parameters = inspect.signature(type(self).__init__).parameters.values()
        names = [parameter.name for parameter in parameters if parameter.kind is parameter.KEYWORD_ONLY]
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            name: getattr(self, name) for name in names
        }

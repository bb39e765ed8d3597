"""Model registry: every model by name, whatever its kind.

Built-in samples are always there; the text model when its extra is installed; a user's model
(``custom.CustomModel``, ``uploads.UploadedModel``) after an explicit ``register_model`` call.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

from ecocompress.core.config import env_number
from ecocompress.core.errors import InvalidParameterError, UnknownModelError
from ecocompress.models.base import ModelKind
from ecocompress.models.samples import DEFAULT_MODEL, SAMPLE_MODELS, SampleModel
from ecocompress.models.text import encoder as minilm

__all__ = ["DEFAULT_MODEL", "SAMPLE_MODELS", "SampleModel", "check_user_name", "get_model", "list_models", "register_model"]

_REGISTERED: OrderedDict[str, ModelKind] = OrderedDict()


def max_registered() -> int:
    """How many user models one process keeps (``ECOCOMPRESS_MAX_UPLOADS``, default 32); the oldest go first."""
    return max(1, int(env_number("ECOCOMPRESS_MAX_UPLOADS", 32)))


def check_user_name(name: str) -> None:
    """A user's model may not take a built-in model's name (their results would mix in the store)."""
    if name in SAMPLE_MODELS or name == minilm.NAME:
        raise InvalidParameterError(f"The name {name!r} belongs to a built-in sample model; choose another name.")


def register_model(spec: ModelKind) -> None:
    """Make a user's model available by name in this process (an explicit call: nothing registers on its own)."""
    check_user_name(spec.name)
    _REGISTERED[spec.name] = spec
    _REGISTERED.move_to_end(spec.name)
    while len(_REGISTERED) > max_registered():  # uploads hold their data in memory: bounded, oldest out
        _REGISTERED.popitem(last=False)


@functools.lru_cache(maxsize=1)
def _text_model() -> ModelKind:
    from ecocompress.models.text.kind import TextModel

    return TextModel()


def get_model(name: str) -> ModelKind:
    """Look a model up by name, with a sentence listing the choices when it is unknown."""
    if name == minilm.NAME:  # the optional pretrained sentence encoder
        if not minilm.available():
            raise UnknownModelError(minilm.MISSING)
        return _text_model()
    try:
        return SAMPLE_MODELS[name] if name in SAMPLE_MODELS else _REGISTERED[name]
    except KeyError:
        raise UnknownModelError(
            f"Unknown model {name!r}; choose one of {', '.join(SAMPLE_MODELS)} "
            "(`ecocompress models` lists them)."
        ) from None


def list_models() -> list[SampleModel]:
    """The built-in sample models (uploads and Python-API models are found by name with ``get_model``)."""
    return list(SAMPLE_MODELS.values())

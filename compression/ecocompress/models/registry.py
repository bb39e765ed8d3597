"""Model registry: every model by name, whatever its kind.

Built-in samples are always there; the two text models (``TEXT_MODELS``) when the MiniLM package is installed; a user's Python
model (``custom.CustomModel``) after an explicit ``register_model`` call. An upload
(``uploads.UploadedModel``) is *held* by whoever made it (the browser session, the CLI command):
the registry finds it by name only while that holder keeps it, so a closed session's data goes
with it. The uploads held at once are bounded in total size, and each session's within its share
of that total, so a few tabs can never take the whole budget from everyone else.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict

from ecocompress.core.errors import InvalidParameterError, UnknownModelError
from ecocompress.core.settings import settings
from ecocompress.models.base import ModelKind
from ecocompress.models.samples import DEFAULT_MODEL, SAMPLE_MODELS, SampleModel
from ecocompress.models.text import encoder as minilm

__all__ = [
    "DEFAULT_MODEL", "SAMPLE_MODELS", "TEXT_MODELS", "SampleModel", "available_models", "check_user_name", "get_model",
    "hold_upload", "list_models", "register_model",
]

#: The built-in models over the pretrained MiniLM encoder: name -> (module, class), loaded on first use.
TEXT_MODELS: dict[str, tuple[str, str]] = {
    minilm.NAME: ("ecocompress.models.text.kind", "TextModel"),
    minilm.TOPICS_NAME: ("ecocompress.models.text.topics", "TopicClassifier"),
}

_REGISTERED: OrderedDict[str, ModelKind] = OrderedDict()
_HELD: weakref.WeakValueDictionary[str, ModelKind] = weakref.WeakValueDictionary()  # uploads, while someone holds them
_OWNERS: dict[str, str] = {}  # upload name -> the session that first held it (its bytes count toward that session)
_HELD_LOCK = threading.Lock()


def max_held_bytes() -> int:
    """Total size of the uploads held at once by every session (``ECOCOMPRESS_MAX_UPLOADS_MB``)."""
    return int(settings().max_uploads_mb * 1e6)


def session_held_bytes_limit() -> int:
    """Size of the uploads one session may hold at once (``ECOCOMPRESS_SESSION_UPLOADS_MB``)."""
    return int(settings().session_uploads_mb * 1e6)


def held_bytes(session: str | None = None) -> int:
    """Memory held by the uploads alive now (model bytes and arrays): all, or those ``session`` brought."""
    alive = list(_HELD.items())
    return sum(spec.held_bytes for name, spec in alive if session is None or _OWNERS.get(name) == session)


_COLLECTED = [0.0]
COLLECT_EVERY_S = 10.0


def release_ended() -> None:
    """Free the uploads of ended sessions now (at most every ``COLLECT_EVERY_S``): a session's objects are
    cyclic garbage once the server drops it, and Python's collector might not look at them for a long time."""
    import gc
    import time

    now = time.monotonic()
    if _HELD and now - _COLLECTED[0] >= COLLECT_EVERY_S:
        _COLLECTED[0] = now
        gc.collect()
        _trim_heap()


def _trim_heap() -> None:
    """Hand freed heap pages back to the system (glibc keeps large freed blocks for reuse otherwise)."""
    _libc_call("malloc_trim", 0)


def _libc_call(name: str, *args: int) -> int:
    """glibc's ``name(*args)``, or 0 where there is no glibc (the memory tuning is then skipped)."""
    import ctypes

    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)(*args)
    except (OSError, AttributeError):
        return 0


def hold_upload(spec: ModelKind, *, session: str = "cli") -> ModelKind:
    """Make an upload reachable by name for as long as the caller keeps the returned object (weakly registered).

    The same model with the same data uploaded again returns the copy already held (one copy in memory);
    a new one beyond ``session``'s share or the total for all sessions is refused with a sentence.
    """
    check_user_name(spec.name)
    with _HELD_LOCK:
        held = _HELD.get(spec.name)
        if held is not None:
            return held
        for name in [n for n in _OWNERS if n not in _HELD]:  # uploads let go since
            del _OWNERS[name]
        mine, share = held_bytes(session), session_held_bytes_limit()
        if mine + spec.held_bytes > share:
            raise InvalidParameterError(
                f"Your uploads already hold {mine / 1e6:,.0f} MB and this one needs {spec.held_bytes / 1e6:,.0f} MB more; "
                f"one session may hold {share / 1e6:,.0f} MB (ECOCOMPRESS_SESSION_UPLOADS_MB): upload less data, or "
                "close the tabs that hold other uploads."
            )
        total, limit = held_bytes(), max_held_bytes()
        if total + spec.held_bytes > limit:
            raise InvalidParameterError(
                f"The server holds {total / 1e6:,.0f} MB of uploads from open sessions and this one needs "
                f"{spec.held_bytes / 1e6:,.0f} MB more (the limit is {limit / 1e6:,.0f} MB, ECOCOMPRESS_MAX_UPLOADS_MB); "
                "try again when other sessions have closed, or upload less data."
            )
        _HELD[spec.name] = spec
        _OWNERS[spec.name] = session
        return spec


def max_registered() -> int:
    """How many user models one process keeps (``ECOCOMPRESS_MAX_UPLOADS``); the oldest go first."""
    return settings().max_uploads


def check_user_name(name: str) -> None:
    """A user's model may not take a built-in model's name (their results would mix in the store)."""
    if name in SAMPLE_MODELS or name in TEXT_MODELS:
        raise InvalidParameterError(f"The name {name!r} belongs to a built-in sample model; choose another name.")


def register_model(spec: ModelKind) -> None:
    """Make a user's Python model available by name in this process (an explicit call: nothing registers on its own).

    The registry keeps it (up to ``ECOCOMPRESS_MAX_UPLOADS``, oldest out); uploads use ``hold_upload`` instead."""
    check_user_name(spec.name)
    _REGISTERED[spec.name] = spec
    _REGISTERED.move_to_end(spec.name)
    while len(_REGISTERED) > max_registered():  # models hold their data in memory: bounded, oldest out
        _REGISTERED.popitem(last=False)


@functools.lru_cache(maxsize=None)
def _text_model(name: str) -> ModelKind:
    import importlib

    module, cls = TEXT_MODELS[name]
    return getattr(importlib.import_module(module), cls)()


def get_model(name: str) -> ModelKind:
    """Look a model up by name, with a sentence listing the choices when it is unknown."""
    if name in TEXT_MODELS:  # over the pretrained sentence encoder, whose package may be missing
        if not minilm.available():
            raise UnknownModelError(minilm.MISSING)
        return _text_model(name)
    try:
        return SAMPLE_MODELS[name] if name in SAMPLE_MODELS else _REGISTERED.get(name) or _HELD[name]
    except KeyError:
        raise UnknownModelError(
            f"Unknown model {name!r}; choose one of {', '.join([*SAMPLE_MODELS, *TEXT_MODELS])} "
            "(`ecocompress models` lists them)."
        ) from None


def list_models() -> list[SampleModel]:
    """The built-in image and feature sample models (uploads and Python-API models are found by name with
    ``get_model``)."""
    return list(SAMPLE_MODELS.values())


def available_models() -> list[ModelKind]:
    """Every built-in model this installation offers: the samples, then the text models where MiniLM is installed."""
    return [*list_models(), *([get_model(name) for name in TEXT_MODELS] if minilm.available() else [])]

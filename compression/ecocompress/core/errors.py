"""Named exceptions, one root, so callers (CLI, pages) can turn any of them into one sentence."""


class EcoCompressError(Exception):
    """Root of every error ecocompress raises on purpose; its message is meant for the user."""


class InvalidParameterError(EcoCompressError, ValueError):
    """A compression or measurement setting is outside its allowed range."""


class UnknownModelError(EcoCompressError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class DataIntegrityError(EcoCompressError):
    """A bundled data file is missing or does not match its checksum."""


class MeasurementError(EcoCompressError):
    """A measurement could not be taken honestly (e.g. CodeCarbon returned nothing)."""


class ServerBusyError(EcoCompressError):
    """Too much is queued or running: say so, with an estimate of when to try again."""


class StoreError(EcoCompressError):
    """The results store cannot be opened or written."""


def invalid_parameter(name: str, allowed: str, got: object) -> InvalidParameterError:
    """The one message for a setting outside its range (scikit-learn's template), e.g.
    ``The 'sparsity' parameter must be a float in the range [0.0, 1.0). Got 1.5 instead.``"""
    return InvalidParameterError(f"The {name!r} parameter must be {allowed}. Got {got!r} instead.")


def failure_sentence(exc: BaseException) -> str:
    """What a user is told when work failed: ecocompress's own sentence for its errors; for anything else only the
    exception's kind, never its text (a library's message can quote an uploaded model's node names or values).
    The whole exception goes to the server's log."""
    if isinstance(exc, EcoCompressError):
        return str(exc) or type(exc).__name__
    import logging

    logging.getLogger("ecocompress").error("internal error", exc_info=exc)
    return (f"An internal error stopped it ({type(exc).__name__}); results measured before are safe, and the "
            "server's log has the details.")


class JobFailed(EcoCompressError):
    """A compute job failed for a reason of ours or a library's, told as ``failure_sentence``."""

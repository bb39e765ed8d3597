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


class StoreError(EcoCompressError):
    """The results store cannot be opened or written."""

"""Stub torchvision for a CPU-only torch whose matching CPU torchvision wheel is unavailable.

The converters import torchvision only for detection ops (NMS, RoiAlign, RoiPool, DeformConv,
ImageDecoder); classifiers never reach those. Any call raises NotImplementedError.
"""
__version__ = "0.0.0-stub"
from . import ops, io  # noqa: F401

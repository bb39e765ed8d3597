import enum
class ImageReadMode(enum.Enum):
    UNCHANGED = 0; GRAY = 1; GRAY_ALPHA = 2; RGB = 3; RGB_ALPHA = 4
def decode_image(*args, **kwargs):
    raise NotImplementedError("torchvision.io is stubbed out in this environment")

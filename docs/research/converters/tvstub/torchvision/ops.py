def _missing(*args, **kwargs):
    raise NotImplementedError("torchvision ops are stubbed out in this environment")
nms = roi_align = roi_pool = deform_conv2d = batched_nms = _missing

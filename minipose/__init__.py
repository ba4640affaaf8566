"""minipose: the PoseNet of Moon et al. (ICCV 2019), rebuilt lesson by lesson.

Every module except this one is generated from the lessons (see tools/gather.py);
this file only gathers the names a user needs.
"""
from minipose.backbone import RESNET_SPEC, ResNetBackbone
from minipose.blocks import BasicBlock, Bottleneck
from minipose.checkpoint import load_checkpoint, save_checkpoint
from minipose.config import Config, cfg, pick_device
from minipose.fast import fast_pose_net, optimize_for_inference, soft_argmax_fast
from minipose.head import HeadNet
from minipose.integral import soft_argmax
from minipose.posenet import ResPoseNet, coord_l1_loss, get_pose_net, print_shape_trace, shape_trace
from minipose.stages import make_layer

__version__ = "0.1.0"

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "Config",
    "HeadNet",
    "RESNET_SPEC",
    "ResNetBackbone",
    "ResPoseNet",
    "cfg",
    "fast_pose_net",
    "coord_l1_loss",
    "get_pose_net",
    "load_checkpoint",
    "make_layer",
    "optimize_for_inference",
    "pick_device",
    "print_shape_trace",
    "save_checkpoint",
    "shape_trace",
    "soft_argmax",
    "soft_argmax_fast",
]

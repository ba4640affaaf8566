# Written directly, not generated: tools/gather.py leaves this module alone. Lessons 00 and 12 draw with it.
"""Skeletons in 2D on a picture and in 3D in the camera's space, with matplotlib (lessons 00 and 12).

Drawing, not the model: the lessons use these helpers and do not build them."""
from __future__ import annotations

import numpy as np

from minipose.skeleton import SKELETON


def draw_skeleton_2d(ax, joints_2d, color="yellow", linewidth=1.5, **style) -> None:
    """One person's bones on a matplotlib axis that shows the picture (pixels, y down)."""
    joints_2d = np.asarray(joints_2d)
    for a, b in SKELETON:
        ax.plot(joints_2d[[a, b], 0], joints_2d[[a, b], 1], color=color, linewidth=linewidth,
                **style)


def draw_skeleton_3d(ax, joints_cam, color="C0", **style) -> None:
    """One person's bones in camera mm on a 3D axis, drawn as (X, Z, −Y):
    right, away from the camera, up."""
    joints_cam = np.asarray(joints_cam)
    for a, b in SKELETON:
        ax.plot(joints_cam[[a, b], 0], joints_cam[[a, b], 2], -joints_cam[[a, b], 1],
                color=color, **style)


def draw_camera_3d(ax, size=300.0, color="k") -> None:
    """The camera at the origin, as a small pyramid looking along +Z,
    in the axes of `draw_skeleton_3d`."""
    corners = np.array([[-1, -0.75], [1, -0.75], [1, 0.75], [-1, 0.75], [-1, -0.75]]) * size
    ax.plot(corners[:, 0], np.full(5, size * 1.5), corners[:, 1], color=color, linewidth=1)
    for x, y in corners[:4]:
        ax.plot([0, x], [0, size * 1.5], [0, y], color=color, linewidth=1)


def equal_aspect_3d(ax, zoom: float = 1.3) -> None:
    """One millimetre the same length along every axis of a 3D plot
    (matplotlib stretches each to fill the box)."""
    limits = np.array([ax.get_xlim3d(), ax.get_ylim3d(), ax.get_zlim3d()])
    ax.set_box_aspect(limits[:, 1] - limits[:, 0], zoom=zoom)

# Written directly, not generated: tools/gather.py leaves this module alone.
"""Synthetic 3D human pose scenes, rendered with numpy and written in the official parsed Human3.6M layout.

Real Human3.6M needs a licence and 100+ GB; this module makes a small stand-in that PoseNet can learn from, in the
very file layout the official loader (data/Human36M/Human36M.py) and `minipose.h36m` read::

    python -m minipose.synth --scenes 700 --seed 0            # → ~/.cache/minipose/synth-seed0-700/

A scene is one to three people (Human3.6M-like bone lengths, joint angles inside human limits) standing, walking,
sitting, reaching or crouching 3–7 m in front of a pinhole camera. They are drawn as shaded capsules and spheres,
ray-cast with a depth buffer, so the picture carries the cues a network needs for depth: perspective size, where
the feet meet the floor, occlusion, shading, and a face and feet that tell front from back. Left and right limbs
have the same colours, so nothing but the body's shape tells the sides apart.

Human3.6M's joint_3d.json holds one person per frame, so it holds each picture's first person (the first
annotation); every annotation also carries its own camera-frame joints (`keypoints_cam`, as MuCo/MuPoTS do), which
is what `minipose.h36m` reads. The unchanged official loader reads one-person pictures exactly; in a picture of
several people it would give everyone the first person's joints.

Everything is deterministic: scene i comes from np.random.default_rng([seed, i]), so the same seed gives
byte-identical files (with the same Pillow/libjpeg) and scene i does not depend on how many scenes are asked for.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from minipose.camera import cam2pixel, cam2world, world2cam
from minipose.h36m import ACTION_NAMES
from minipose.skeleton import FILE_JOINT_NUM, JOINTS_NAME, ROOT_IDX

# Human3.6M's subjects, as the official tool/Human36M/h36m2coco.py numbers them (ACTION_NAMES: actions 2..16).
SUBJECTS = (1, 5, 6, 7, 8, 9, 11)
CAMERAS_PER_SUBJECT = 4
FORMAT_VERSION = 1
JPEG_QUALITY = 90
J = {name: i for i, name in enumerate(JOINTS_NAME[:FILE_JOINT_NUM])}  # joint index by name, the files' 17 only

# ---------------------------------------------------------------------------------------------- bodies and poses

# Mean bone lengths in mm, close to Human3.6M's mean skeleton. One value per bone serves both sides (left = right).
BONE_MEANS = {
    "hip": 130.0,        # pelvis → each hip, sideways
    "thigh": 450.0,      # hip → knee
    "shin": 445.0,       # knee → ankle
    "spine": 230.0,      # pelvis → torso
    "chest": 250.0,      # torso → neck
    "nose": 115.0,       # neck → nose, up and forward
    "head": 115.0,       # nose → head (top), up and a little back
    "shoulder": 150.0,   # neck → each shoulder
    "upper_arm": 280.0,  # shoulder → elbow
    "forearm": 250.0,    # elbow → wrist
}
BONE_SCALE = (0.9, 1.1)  # each person's bones, each by its own factor: ±10 %

# Joint-angle limits in degrees: a typical adult's range of motion. Pairs (right, left) share one range.
LIMITS = {
    "body_pitch": (-10.0, 10.0), "body_roll": (-10.0, 10.0),  # the whole body's lean (yaw is free: 0–360)
    "spine_bend": (-10.0, 30.0),   # forward (+) over the whole spine, half at the torso joint, half at the neck
    "spine_side": (-15.0, 15.0), "spine_twist": (-30.0, 30.0),
    "neck_bend": (-30.0, 40.0), "neck_side": (-20.0, 20.0), "neck_turn": (-45.0, 45.0),
    "hip_flex": (-25.0, 110.0),    # thigh forward (+) / back (−)
    "hip_abd": (-10.0, 45.0),      # thigh outward (+) / across (−)
    "knee": (0.0, 150.0),          # 0 = straight
    "shoulder_flex": (-50.0, 180.0), "shoulder_abd": (-10.0, 170.0), "arm_twist": (-40.0, 90.0),
    "elbow": (0.0, 145.0),         # 0 = straight
}
NECK_TO_NOSE_TILT = 25.0  # degrees the neck → nose bone leans forward from the head's up axis
NOSE_TO_HEAD_TILT = 25.0  # degrees the nose → head bone leans backward
SHOULDER_DROP = 10.0      # degrees the neck → shoulder bone points below the horizontal


def sample_bone_lengths(rng: np.random.Generator) -> dict:
    """One person's bone lengths in mm: each mean in BONE_MEANS times its own U(0.9, 1.1)."""
    return {bone: mean * float(rng.uniform(*BONE_SCALE)) for bone, mean in BONE_MEANS.items()}


def _rot(axis: str, degrees: float) -> np.ndarray:
    """Right-handed rotation by `degrees` about the x, y or z axis."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    if axis == "x":
        return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


# Each kind of pose starts from a relaxed stand and changes what it is about; together they give the variety of
# everyday poses rather than uniform noise on every joint. "free" does fill the whole range of motion, rarely.
def _standing(rng):
    return {
        "body_pitch": rng.normal(0, 4), "body_roll": rng.normal(0, 4),
        "spine_bend": rng.normal(3, 5), "spine_side": rng.normal(0, 4), "spine_twist": rng.normal(0, 8),
        "neck_bend": rng.normal(5, 10), "neck_side": rng.normal(0, 6), "neck_turn": rng.normal(0, 15),
        "hip_flex": rng.normal(0, 5, 2), "hip_abd": rng.normal(4, 3, 2), "knee": np.abs(rng.normal(0, 6, 2)),
        "shoulder_flex": rng.normal(5, 12, 2), "shoulder_abd": rng.normal(8, 6, 2),
        "arm_twist": rng.normal(15, 15, 2), "elbow": np.abs(rng.normal(10, 15, 2)),
    }


def _walking(rng, a):
    phase = rng.uniform(-1, 1) * np.array([1.0, -1.0])  # +1: that leg is forward (right, left)
    a["hip_flex"] = 5 + rng.uniform(15, 30) * phase + rng.normal(0, 3, 2)
    a["knee"] = rng.uniform(0, 15, 2) + rng.uniform(20, 50) * np.maximum(0, -phase)  # the back leg bends to swing
    a["shoulder_flex"] = -rng.uniform(10, 30) * phase  # arms swing against the legs
    a["elbow"] = rng.uniform(10, 40, 2)


def _sitting(rng, a):
    a["hip_flex"] = rng.uniform(70, 105) + rng.normal(0, 8, 2)
    a["knee"] = rng.uniform(60, 115) + rng.normal(0, 10, 2)
    a["hip_abd"] = rng.uniform(0, 25, 2)
    a["spine_bend"] = rng.uniform(-5, 20)
    a["shoulder_flex"] = rng.uniform(0, 50, 2)
    a["elbow"] = rng.uniform(30, 110, 2)


def _reaching(rng, a):
    arms = [[0], [1], [0, 1]][rng.integers(3)]  # right, left or both
    for side in arms:
        a["shoulder_flex"][side] = rng.uniform(40, 180)
        a["shoulder_abd"][side] = rng.uniform(0, 120)
        a["elbow"][side] = rng.uniform(0, 45)
    a["spine_bend"], a["spine_twist"], a["spine_side"] = rng.uniform(-5, 25), rng.normal(0, 15), rng.normal(0, 8)
    if rng.random() < 0.4:  # a lunge towards what is reached for
        side = rng.integers(2)
        a["hip_flex"][side], a["knee"][side] = rng.uniform(20, 60), rng.uniform(20, 70)


def _crouching(rng, a):
    a["hip_flex"] = rng.uniform(80, 110) + rng.normal(0, 5, 2)
    a["knee"] = rng.uniform(110, 150) + rng.normal(0, 5, 2)
    a["hip_abd"] = rng.uniform(5, 35, 2)
    a["spine_bend"] = rng.uniform(10, 30)
    a["shoulder_flex"] = rng.uniform(20, 90, 2)
    a["elbow"] = rng.uniform(20, 110, 2)


def _free(rng, a):
    for key, (lo, hi) in LIMITS.items():
        a[key] = rng.uniform(lo, hi, np.shape(a[key]))


POSE_KINDS = {"standing": (0.25, None), "walking": (0.2, _walking), "sitting": (0.15, _sitting),
              "reaching": (0.15, _reaching), "crouching": (0.1, _crouching), "free": (0.15, _free)}


def _sample_angles(rng) -> dict:
    kinds = list(POSE_KINDS.values())
    _, change = kinds[rng.choice(len(kinds), p=[w for w, _ in kinds])]
    angles = _standing(rng)
    if change is not None:
        change(rng, angles)
    angles = {key: np.clip(angles[key], lo, hi) for key, (lo, hi) in LIMITS.items()}
    angles["yaw"] = rng.uniform(0, 360)
    return angles


def _pose_from_angles(a: dict, bones: dict) -> np.ndarray:
    """17 × 3 joints (world mm, z up, pelvis at the origin) from joint angles in degrees and bone lengths in mm.

    Body frame: x = the person's right, y = forward, z = up. A limb's rest direction is straight down (−z); a
    rotation about x swings it forward/back, about y sideways, about z twists it about its own axis.
    """
    down, up = np.array([0.0, 0, -1]), np.array([0.0, 0, 1])
    P = np.zeros((FILE_JOINT_NUM, 3))
    body = _rot("z", a["yaw"]) @ _rot("x", a["body_pitch"]) @ _rot("y", a["body_roll"])

    # Spine: half the bend at the torso joint, half at the neck, so the back curves.
    half = (_rot("z", a["spine_twist"] / 2) @ _rot("x", -a["spine_bend"] / 2) @ _rot("y", a["spine_side"] / 2))
    lower, chest = body @ half, body @ half @ half
    P[J["Torso"]] = lower @ up * bones["spine"]
    P[J["Neck"]] = P[J["Torso"]] + chest @ up * bones["chest"]

    head = chest @ _rot("z", a["neck_turn"]) @ _rot("x", -a["neck_bend"]) @ _rot("y", a["neck_side"])
    tilt, back = math.radians(NECK_TO_NOSE_TILT), math.radians(NOSE_TO_HEAD_TILT)
    P[J["Nose"]] = P[J["Neck"]] + head @ np.array([0, math.sin(tilt), math.cos(tilt)]) * bones["nose"]
    P[J["Head"]] = P[J["Nose"]] + head @ np.array([0, -math.sin(back), math.cos(back)]) * bones["head"]

    drop = math.radians(SHOULDER_DROP)
    for i, (side, sign) in enumerate((("R", 1.0), ("L", -1.0))):  # sign: +1 on the right (+x), −1 on the left
        # Legs: abduction turns outward, i.e. towards +x on the right and −x on the left.
        hip = body @ np.array([sign * bones["hip"], 0, 0])
        thigh = body @ _rot("y", -sign * a["hip_abd"][i]) @ _rot("x", a["hip_flex"][i])
        shin = thigh @ _rot("x", -a["knee"][i])  # the knee bends backwards
        P[J[f"{side}_Hip"]] = hip
        P[J[f"{side}_Knee"]] = hip + thigh @ down * bones["thigh"]
        P[J[f"{side}_Ankle"]] = P[J[f"{side}_Knee"]] + shin @ down * bones["shin"]

        # Arms: the twist (about the upper arm) sets the plane in which the elbow bends, which is forwards.
        shoulder = P[J["Neck"]] + chest @ np.array([sign * math.cos(drop), 0, -math.sin(drop)]) * bones["shoulder"]
        upper = (chest @ _rot("y", -sign * a["shoulder_abd"][i]) @ _rot("x", a["shoulder_flex"][i])
                 @ _rot("z", sign * a["arm_twist"][i]))
        fore = upper @ _rot("x", a["elbow"][i])
        P[J[f"{side}_Shoulder"]] = shoulder
        P[J[f"{side}_Elbow"]] = shoulder + upper @ down * bones["upper_arm"]
        P[J[f"{side}_Wrist"]] = P[J[f"{side}_Elbow"]] + fore @ down * bones["forearm"]
    return P


def sample_pose(rng: np.random.Generator, bone_lengths: dict | None = None) -> np.ndarray:
    """A random 17 × 3 pose in world mm (z up), pelvis at the origin, in Human3.6M's joint order (no Thorax).

    One of a few everyday kinds (standing, walking, sitting, reaching, crouching, or anything within the limits),
    every joint angle inside LIMITS, any yaw, the whole body leaning at most 10°.
    """
    if bone_lengths is None:
        bone_lengths = sample_bone_lengths(rng)
    missing = set(BONE_MEANS) - set(bone_lengths)
    if missing:
        raise ValueError(f"bone_lengths lacks {sorted(missing)}; pass a dict like sample_bone_lengths(rng) returns")
    return _pose_from_angles(_sample_angles(rng), bone_lengths)


# ---------------------------------------------------------------------------------------------- camera and scene

CAMERA_HEIGHT = (800.0, 1800.0)  # mm above the floor
CAMERA_DISTANCE = (4000.0, 6000.0)  # mm from the world origin, which the camera roughly faces
AIM_DISTANCE = 5000.0  # the camera tilts to look at 1 m high this far away (where people stand, on average)
ROOT_DEPTH = (3000.0, 7000.0)  # camera Z of each person's pelvis, mm
MIN_APART = 600.0  # mm between two people's pelvises on the floor, so bodies do not pass through each other
# How far each joint stays above the floor (mm): the ankle over the sole, the knee over a kneecap, the rest.
FLOOR_CLEARANCE = np.full(FILE_JOINT_NUM, 60.0)
FLOOR_CLEARANCE[[J["R_Ankle"], J["L_Ankle"]]] = 80.0


def sample_camera(rng: np.random.Generator, width: int = 1000, height: int = 1000, focal: float = 1150.0) -> dict:
    """A camera like Human3.6M's: R, t (X_cam = R·X_world + t, mm), f = focal·U(0.97, 1.03) per axis, c = centre.

    It stands 0.8–1.8 m high, 4–6 m from the world origin, looks roughly at it and roughly horizontally (tilted to
    aim 1 m high 5 m away, ±3°, rolled ±2°). Camera axes: x right, y down, z forward.
    """
    f = focal * rng.uniform(0.97, 1.03, 2)
    c = np.array([width / 2.0, height / 2.0])
    azimuth = rng.uniform(0, 2 * math.pi)
    position = np.array([*(rng.uniform(*CAMERA_DISTANCE) * np.array([math.cos(azimuth), math.sin(azimuth)])),
                         rng.uniform(*CAMERA_HEIGHT)])
    heading = azimuth + math.pi + math.radians(rng.uniform(-10, 10))  # towards the origin, give or take
    pitch = math.atan2(position[2] - 1000.0, AIM_DISTANCE) + math.radians(rng.uniform(-3, 3))  # + = looks down
    forward = np.array([math.cos(pitch) * math.cos(heading), math.cos(pitch) * math.sin(heading), -math.sin(pitch)])
    right = np.cross(forward, [0.0, 0, 1])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    roll = math.radians(rng.uniform(-2, 2))
    right, down = math.cos(roll) * right + math.sin(roll) * down, math.cos(roll) * down - math.sin(roll) * right
    R = np.stack([right, down, forward])  # rows: the camera's axes in world coordinates
    return {"R": R, "t": -R @ position, "f": f, "c": c}


def get_bbox(joint_img: np.ndarray) -> np.ndarray:
    """[x, y, w, h] around projected joints, as the official tool/Human36M/h36m2coco.py computes it (× 1.2)."""
    xmin, ymin = joint_img[:, 0].min(), joint_img[:, 1].min()
    xmax, ymax = joint_img[:, 0].max(), joint_img[:, 1].max()
    width, height = xmax - xmin - 1, ymax - ymin - 1
    return np.array([(xmin + xmax) / 2.0 - width / 2 * 1.2, (ymin + ymax) / 2.0 - height / 2 * 1.2,
                     width * 1.2, height * 1.2])


def _fits(joints_cam: np.ndarray, camera: dict, width: int, height: int) -> bool:
    """Every joint in front of the camera and the official box (hence every joint) inside the picture."""
    if np.any(joints_cam[:, 2] < 500.0):
        return False
    x, y, w, h = get_bbox(cam2pixel(joints_cam, camera["f"], camera["c"]))
    return x >= 0 and y >= 0 and x + w <= width - 1 and y + h <= height - 1


def _place(rng, pose: np.ndarray, camera: dict, width: int, height: int, others: list, tries: int = 30):
    """World joints of `pose` standing on the floor (z = 0) with its pelvis at camera Z in ROOT_DEPTH, or None."""
    R, t, f, c = camera["R"], camera["t"], camera["f"], camera["c"]
    lift = np.max(FLOOR_CLEARANCE - pose[:, 2])  # raises the lowest point (with its clearance) to the floor
    for _ in range(tries):
        # Pick the pelvis's depth and column, then the height in the picture that puts the feet on the floor:
        # world z = r·(X_cam − t) with r = R[:, 2] (world up in camera axes) is linear in the camera Y.
        Z, u = rng.uniform(*ROOT_DEPTH), rng.uniform(0, width)
        X = (u - c[0]) / f[0] * Z
        r = R[:, 2]
        Y = (lift + r @ t - r[0] * X - r[2] * Z) / r[1]
        pelvis = cam2world(np.array([[X, Y, Z]]), R, t)[0]
        if any(np.hypot(*(pelvis[:2] - o[ROOT_IDX, :2])) < MIN_APART for o in others):
            continue
        world = pose - pose[ROOT_IDX] + pelvis
        if _fits(world2cam(world, R, t), camera, width, height):
            return world
    return None


@dataclass
class Scene:
    """One synthetic picture and its people (k of them), in Human3.6M's 17-joint order, millimetres."""
    image: np.ndarray         # H × W × 3 uint8
    joints_world: np.ndarray  # k × 17 × 3, world frame (z up, floor at z = 0)
    joints_cam: np.ndarray    # k × 17 × 3, camera frame: world2cam(joints_world, R, t)
    camera: dict              # R, t, f, c as sample_camera returns


def make_scene(rng: np.random.Generator, camera: dict, width: int = 1000, height: int = 1000,
               max_people: int = 3) -> Scene:
    """One to `max_people` people on the floor in front of `camera`, every joint inside the picture, rendered.

    People may overlap and hide each other in the picture; they do not stand inside each other.
    """
    if max_people < 1:
        raise ValueError(f"max_people must be at least 1, got {max_people}")
    people = []
    for _ in range(int(rng.integers(1, max_people + 1))):
        for _attempt in range(50):  # a pose that fits nowhere (arms up, near a small picture) is replaced
            world = _place(rng, sample_pose(rng), camera, width, height, people)
            if world is not None:
                people.append(world)
                break
        else:
            raise RuntimeError(
                f"could not fit a person inside a {width} × {height} picture with focal {camera['f']} at "
                f"{ROOT_DEPTH[0]:.0f}–{ROOT_DEPTH[1]:.0f} mm: the focal length is too long for the picture; "
                f"use about 1.15 × the width (Human3.6M: 1150 px for 1000 px)")
    joints_world = np.stack(people)
    joints_cam = np.stack([world2cam(w, camera["R"], camera["t"]) for w in joints_world])
    image = render(joints_cam, camera, width, height, rng)
    return Scene(image=image, joints_world=joints_world, joints_cam=joints_cam, camera=camera)


# ---------------------------------------------------------------------------------------------- rendering

# Body parts: capsules (a segment with a radius) between points, radii in mm, and the colour each part wears.
# Left and right limbs wear the same colour: only the shape of the body tells the sides apart.
SKIN_TONES = np.array([[255, 224, 196], [234, 192, 160], [198, 142, 105], [141, 85, 54], [90, 56, 37]], float)
HAIR_TONES = np.array([[20, 15, 12], [70, 45, 25], [120, 80, 40], [200, 170, 110], [150, 150, 150]], float)


def sample_appearance(rng: np.random.Generator) -> dict:
    """One person's colours (RGB 0–255): shirt, trousers, skin, hair, shoes; short sleeves and shorts or not."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, 8, 3)
    hair = HAIR_TONES[rng.integers(len(HAIR_TONES))] + rng.normal(0, 8, 3)
    shirt = rng.uniform(15, 240, 3)
    jeans = rng.random() < 0.4
    trousers = np.array([45.0, 65, 115]) + rng.normal(0, 12, 3) if jeans else rng.uniform(15, 200, 3)
    shoes = rng.uniform(10, 90) + rng.normal(0, 10, 3)
    return {"skin": np.clip(skin, 0, 255), "hair": np.clip(hair, 0, 255), "shirt": shirt,
            "trousers": np.clip(trousers, 0, 255), "shoes": np.clip(shoes, 0, 255),
            "short_sleeves": bool(rng.random() < 0.3), "shorts": bool(rng.random() < 0.2)}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _turn(src: np.ndarray, dst: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`v` turned by the smallest rotation that takes unit vector `src` to unit vector `dst` (Rodrigues)."""
    axis, cos = np.cross(src, dst), float(src @ dst)
    if cos < -0.999:  # opposite: any half-turn will do; about an axis square to src
        return -v + 2 * (v @ _unit(np.cross(src, [1.0, 0, 0]))) * _unit(np.cross(src, [1.0, 0, 0]))
    return v + np.cross(axis, v) + np.cross(axis, np.cross(axis, v)) / (1 + cos)


def _body_parts(P: np.ndarray, look: dict) -> list:
    """(a, b, radius, colour) capsules (a = b: a sphere) of one person from its 17 camera-frame joints.

    The joints do not store which way the face and the feet point; both come from the joints: the face looks
    where the nose sits off the neck → head line, the feet point the way the pelvis faces, carried down the leg.
    """
    shirt, skin, trousers = look["shirt"], look["skin"], look["trousers"]
    arm_low = skin if look["short_sleeves"] else shirt
    leg_low = skin if look["shorts"] else trousers
    p = {name: P[i] for name, i in J.items()}
    right = _unit(p["R_Hip"] - p["L_Hip"])
    up = _unit((p["Torso"] - p["Pelvis"]) - ((p["Torso"] - p["Pelvis"]) @ right) * right)
    forward = np.cross(up, right)  # x right, y forward, z up is right-handed: forward = up × right
    chest_up = _unit(p["Neck"] - p["Torso"])
    head_up = _unit(p["Head"] - p["Neck"])
    nose = p["Nose"] - p["Neck"]
    face = _unit(nose - (nose @ head_up) * head_up)

    r_head = 0.85 * float(np.linalg.norm(p["Head"] - p["Nose"]))  # the head grows with the person
    centre = p["Head"] - 0.8 * r_head * head_up
    parts = [
        (p["Pelvis"] + 0.55 * (p["R_Hip"] - p["Pelvis"]), p["Pelvis"] + 0.55 * (p["L_Hip"] - p["Pelvis"]), 95.0,
         trousers),
        (p["R_Shoulder"], p["L_Shoulder"], 55.0, shirt),
        (p["Neck"] - 20.0 * chest_up, centre, 45.0, skin),
        (centre, centre, r_head, skin),  # face
        (centre - 0.2 * r_head * face + 0.1 * r_head * head_up,) * 2 + (0.97 * r_head, look["hair"]),  # hair: back, top
        (centre + 0.95 * r_head * face - 0.2 * r_head * head_up,) * 2 + (0.22 * r_head, skin),  # nose
    ]
    for side in ("R", "L"):
        hip, knee, ankle = p[f"{side}_Hip"], p[f"{side}_Knee"], p[f"{side}_Ankle"]
        shoulder, elbow, wrist = p[f"{side}_Shoulder"], p[f"{side}_Elbow"], p[f"{side}_Wrist"]
        shin = _unit(ankle - knee)
        foot = _unit(_turn(-up, shin, forward))  # the pelvis's forward, turned as the shin is turned from down
        side_hip = p["Pelvis"] + 0.45 * (hip - p["Pelvis"])
        side_neck = p["Neck"] + 0.5 * (shoulder - p["Neck"]) - 30.0 * chest_up
        parts += [
            (side_hip, side_neck, 95.0, shirt),  # the torso: two overlapping flanks, wider than deep
            (hip, knee, 75.0, trousers), (knee, ankle, 52.0, leg_low),
            (ankle - 30.0 * foot, ankle + 150.0 * foot + 30.0 * shin, 42.0, look["shoes"]),
            (shoulder, elbow, 48.0, shirt), (elbow, wrist, 38.0, arm_low),
            (wrist + 55.0 * _unit(wrist - elbow),) * 2 + (45.0, skin),  # hand
        ]
    return parts


def _candidate_pixels(a, b, r, f, c, width, height):
    """Part index, row and column of every pixel that may see each capsule: a superset of its picture.

    a, b: P × 3 segment ends, r: P radii (camera mm). All parts at once, so numpy's per-call cost is paid once
    per picture, not once per part. A diagonal limb fills a small part of its screen box, so the box alone would
    waste work: the picture of each sphere along the axis lies within rho pixels of its projected centre, rho a
    safe bound (angular radius asin(r/dist), stretched by 1 + tan² of the widest ray angle off the optical axis,
    + 1 pixel). On each row, only the columns within rho of the part of the projected axis within rho rows of it
    can be hit.
    """
    # Screen boxes: each capsule lies inside its end spheres' bounding cubes, whose corners bound its picture.
    ends = np.stack([a, b], axis=1)  # P × 2 × 3
    side = r[:, None, None] * np.array([-1.0, 1.0])  # P × 1 × 2
    Z = (ends[:, :, 2, None] + side)[:, :, None, :]
    px = (ends[:, :, 0, None] + side)[..., None] / Z * f[0] + c[0]  # P × 2 ends × 2 x-corners × 2 z-corners
    py = (ends[:, :, 1, None] + side)[..., None] / Z * f[1] + c[1]
    x0 = np.floor(px.min(axis=(1, 2, 3))).clip(0, width).astype(np.int64)
    x1 = (np.ceil(px.max(axis=(1, 2, 3))) + 1).clip(0, width).astype(np.int64)
    y0 = np.floor(py.min(axis=(1, 2, 3))).clip(0, height).astype(np.int64)
    y1 = (np.ceil(py.max(axis=(1, 2, 3))) + 1).clip(0, height).astype(np.int64)

    ba = b - a
    s = (-(a * ba).sum(1) / np.maximum((ba * ba).sum(1), 1e-12)).clip(0, 1)
    dist = np.linalg.norm(a + s[:, None] * ba, axis=1)  # the camera's distance to each segment
    off_axis = ((np.maximum(abs(x0 - c[0]), abs(x1 - 1 - c[0])) / f[0]) ** 2
                + (np.maximum(abs(y0 - c[1]), abs(y1 - 1 - c[1])) / f[1]) ** 2)
    rho = max(f) * r / np.sqrt(dist * dist - r * r) * (1 + off_axis) + 1.0
    pa, pb = a[:, :2] / a[:, 2:] * f + c, b[:, :2] / b[:, 2:] * f + c  # the axis's ends in the picture

    # Every part's rows, flattened; then on each row the columns near the projected axis.
    nrows = y1 - y0
    part = np.repeat(np.arange(len(a)), nrows)
    row = np.arange(nrows.sum()) + np.repeat(y0 - (np.cumsum(nrows) - nrows), nrows)
    (ax, ay), (bx, by), rho_r = pa[part].T, pb[part].T, rho[part]
    level = np.abs(by - ay) < 1e-6  # a level axis: all of it is near every row of its box
    inv = 1 / np.where(level, 1.0, by - ay)
    s1 = (row - rho_r - ay) * inv  # axis parameters within rho rows (rows beyond the axis clip to an end: safe)
    s2 = s1 + 2 * rho_r * inv
    lo = np.where(level, 0.0, np.minimum(s1, s2)).clip(0, 1)
    hi = np.where(level, 1.0, np.maximum(s1, s2)).clip(0, 1)
    xa, xb = ax + lo * (bx - ax), ax + hi * (bx - ax)
    left = np.ceil(np.minimum(xa, xb) - rho_r).clip(x0[part], x1[part]).astype(np.int64)
    right = np.floor(np.maximum(xa, xb) + rho_r).clip(x0[part] - 1, x1[part] - 1).astype(np.int64)
    counts = np.maximum(right - left + 1, 0)
    stop = np.cumsum(counts)
    # The ragged rows flattened: row y repeated counts[y] times, columns left[y], left[y] + 1, ...
    xs = np.arange(stop[-1] if len(stop) else 0) + np.repeat(left - (stop - counts), counts)
    return np.repeat(part, counts), np.repeat(row, counts), xs


def _sphere_hits(u, v, dd, centre, r):
    """Camera Z where rays (u, v, 1) first meet a sphere (inf: missed); centre: 3 floats.

    (d·C)² − |d|²(|C|² − r²) is computed as |d|² r² − |d × C|², which does not cancel big numbers in float32.
    """
    cx, cy, cz = centre
    disc = dd * (r * r) - ((v * cz - cy) ** 2 + (cx - u * cz) ** 2 + (u * cy - v * cx) ** 2)
    return np.where(disc >= 0, (u * cx + v * cy + cz - np.sqrt(np.maximum(disc, 0))) / dd, np.inf)


def _capsule_hits(u, v, a, b, r):
    """Camera Z where rays (u, v, 1) first meet the capsule a–b of radius r (inf: missed); a, b: 3 floats.

    A ray that misses the capsule's infinite cylinder misses the capsule; one that meets it between the ends hits
    there; only the rest need the end spheres. (Plain Python floats as parameters keep the arrays float32.)
    """
    dd = u * u + v * v + 1
    (ax, ay, az), (bx, by, bz) = a, b
    bx, by, bz = bx - ax, by - ay, bz - az
    baba, ab = bx * bx + by * by + bz * bz, ax * bx + ay * by + az * bz
    if baba < 1e-6:  # a sphere
        return _sphere_hits(u, v, dd, a, r)
    bard = u * bx + v * by + bz  # d · (b − a)
    A = baba * dd - bard * bard
    B = ab * bard - baba * (u * ax + v * ay + az)
    h = B * B - A * (baba * (ax * ax + ay * ay + az * az) - ab * ab - r * r * baba)
    t = (-B - np.sqrt(np.maximum(h, 0))) / A  # A = 0 (a ray along the axis) gives inf or nan: not a side hit
    y = t * bard - ab  # (hit − a) · (b − a): between 0 and |b − a|² on the side
    inside = h >= 0
    side = inside & (y > 0) & (y < baba) & (A > 1e-6 * baba)
    t[~side] = np.inf
    ends = np.flatnonzero(inside & ~side)
    if ends.size:
        ue, ve, de = u[ends], v[ends], dd[ends]
        t[ends] = np.minimum(_sphere_hits(ue, ve, de, a, r), _sphere_hits(ue, ve, de, b, r))
    return t


def _rasterise(color, a, b, r, albedo, f, c, light, ambient):
    """Ray-cast capsules (P of them: ends a, b, radii r, colours albedo; camera mm) into `color` with a depth test.

    The ray through pixel (x, y) is d = ((x − cx)/fx, (y − cy)/fy, 1), so its parameter is the camera Z itself.
    Parts go nearest first, so pixels already covered by something nearer are skipped before any ray is cast
    (the picture is the same in any order).
    """
    height, width = color.shape[:2]
    near_z = np.minimum(a[:, 2], b[:, 2]) - r
    order = np.argsort(near_z, kind="stable")
    a, b, r, albedo, near_z = a[order], b[order], r[order], albedo[order], near_z[order]
    part, ys, xs = _candidate_pixels(a, b, r, f, c, width, height)
    bounds = np.searchsorted(part, np.arange(len(a) + 1))  # part p's candidates: bounds[p] to bounds[p + 1]
    us = ((xs - c[0]) / f[0]).astype(np.float32)
    vs = ((ys - c[1]) / f[1]).astype(np.float32)
    flats = ys * width + xs
    # Colours through a 256-step shade table per part, written as whole 3-byte pixels (faster than 3 channels).
    tables = (np.linspace(0, 1, 256)[None, :, None] * albedo[:, None, :]).clip(0, 255).astype(np.uint8)
    tables = tables.view(_PIXEL)[..., 0]  # P × 256 pixels
    pixels = color.reshape(-1, 3).view(_PIXEL)[:, 0]
    zbuf = np.full(height * width, np.inf, dtype=np.float32)
    lx, ly, lz = light.tolist()

    with np.errstate(invalid="ignore", divide="ignore"):  # rays along an axis divide by zero, harmlessly
        for p in range(len(a)):
            flat, u, v = flats[bounds[p]:bounds[p + 1]], us[bounds[p]:bounds[p + 1]], vs[bounds[p]:bounds[p + 1]]
            open_ = np.flatnonzero(zbuf[flat] > near_z[p])
            if open_.size == 0:
                continue
            if open_.size < flat.size:
                flat, u, v = flat[open_], u[open_], v[open_]
            ap, bp, rp = a[p].tolist(), b[p].tolist(), float(r[p])
            t = _capsule_hits(u, v, ap, bp, rp)
            won = np.flatnonzero(t < zbuf[flat])
            if won.size == 0:
                continue
            flat, t, u, v = flat[won], t[won], u[won], v[won]
            zbuf[flat] = t
            # Lambert: the normal runs from the nearest point of the segment to the hit, over r; its dot with
            # the light comes from dot products alone: n·L = ((hit − a)·L − s (b − a)·L) / r.
            (ax, ay, az), (bx, by, bz) = ap, (bp[0] - ap[0], bp[1] - ap[1], bp[2] - ap[2])
            baba, ab = max(bx * bx + by * by + bz * bz, 1e-6), ax * bx + ay * by + az * bz
            s = ((t * (u * bx + v * by + bz) - ab) / baba).clip(0, 1)
            lam = (t * (u * lx + v * ly + lz) - (ax * lx + ay * ly + az * lz) - s * (bx * lx + by * ly + bz * lz)) / rp
            shade = ambient + (1 - ambient) * lam.clip(0, 1)
            pixels[flat] = tables[p][(shade * 255).astype(np.intp)]


_PIXEL = np.dtype((np.void, 3))  # one RGB pixel as a single 3-byte item


def _low_frequency(rng, cells: int, size: tuple) -> np.ndarray:
    """Smooth noise in [−0.5, 0.5], size (h, w, 3): a tiny random picture blown up (cheap, any resolution)."""
    tiny = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    big = Image.fromarray(tiny).resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255 - 0.5


def random_background(rng: np.random.Generator, camera: dict, width: int, height: int) -> np.ndarray:
    """H × W × 3 uint8: a wall (gradient + smooth noise) and, most often, a tiled floor up to it, seen by `camera`.

    The floor is the true plane z = 0 seen through the camera, so where the feet touch it tells how far away a
    person stands. Computed at a fifth of the resolution and blown up: a background needs no fine detail.
    """
    h, w = -(-height // 5), -(-width // 5)
    top, bottom = rng.uniform(20, 235, (2, 3)).astype(np.float32)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    noise = _low_frequency(rng, int(rng.integers(2, 7)), (h, w))
    img = (1 - ramp) * top + ramp * bottom + np.float32(rng.uniform(10, 60)) * noise
    if rng.random() < 0.75:
        R, t, f, c = camera["R"], camera["t"], camera["f"], camera["c"]
        # Low-resolution pixel centres in full-resolution pixel coordinates (as Pillow's resize maps them).
        x = (np.arange(w) + 0.5) * width / w - 0.5
        y = (np.arange(h) + 0.5) * height / h - 0.5
        d = np.stack(np.broadcast_arrays((x[None, :] - c[0]) / f[0], (y[:, None] - c[1]) / f[1], 1.0), -1)
        d = d @ R  # world directions of the rays: Rᵀ d, row by row
        eye = -R.T @ t  # the camera's place in the world
        wall, tile = rng.uniform(7000, 15000), rng.uniform(300, 1000)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # rays above the horizon: no floor
            s = np.where(d[..., 2] < 0, -eye[2] / d[..., 2], np.inf)  # where the ray meets z = 0 (= camera Z)
            gx, gy = eye[0] + s * d[..., 0], eye[1] + s * d[..., 1]
            # The floor runs up to a wall 7–15 m away, blended over half a metre so its edge does not alias.
            floor = np.clip((wall - np.hypot(gx - eye[0], gy - eye[1])) / 500.0, 0, 1)
            # Soft tiles (a clipped product of sines: no hard edges to alias at low resolution), fading out where
            # a tile shrinks below a few low-resolution pixels.
            checker = np.clip(2 * np.sin(np.pi * gx / tile) * np.sin(np.pi * gy / tile), -0.5, 0.5)
            checker *= np.clip(f[0] * tile / s / (width / w) / 3 - 1, 0, 1)
        floor = np.nan_to_num(floor).astype(np.float32)[..., None]
        checker = np.nan_to_num(checker).astype(np.float32)[..., None]
        floor_img = (rng.uniform(30, 220, 3).astype(np.float32) + np.float32(rng.uniform(0, 45)) * checker
                     + np.float32(rng.uniform(5, 40)) * _low_frequency(rng, int(rng.integers(3, 9)), (h, w)))
        img = floor * floor_img + (1 - floor) * img
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR)).copy()


def render(joints_cam: np.ndarray, camera: dict, width: int, height: int, rng: np.random.Generator, *,
           background=None, light=None, appearances=None) -> np.ndarray:
    """H × W × 3 uint8 picture of k people given as k × 17 × 3 camera-frame joints (mm), seen by `camera`.

    Each body part is ray-cast over its screen box against a shared depth buffer (so people hide each other
    correctly) and Lambert-shaded from its exact normal. From `rng`, in this order: the background, the light,
    each person's appearance; the keywords replace them (the tests use a plain background and a fixed light):
    background: an RGB triple or an H × W × 3 array; light: the direction towards the light, camera frame;
    appearances: one dict per person as `sample_appearance` returns.
    """
    joints_cam = np.asarray(joints_cam, dtype=np.float64)
    if joints_cam.ndim == 2:
        joints_cam = joints_cam[None]
    if joints_cam.ndim != 3 or joints_cam.shape[1:] != (FILE_JOINT_NUM, 3):
        raise ValueError(f"joints_cam must be k × {FILE_JOINT_NUM} × 3 (Human3.6M's joints, camera mm), "
                         f"got shape {joints_cam.shape}")
    f = np.asarray(camera["f"], dtype=np.float64)
    c = np.asarray(camera["c"], dtype=np.float64)

    if background is None:
        color = random_background(rng, camera, width, height)
    elif np.shape(background) == (3,):  # a plain colour: fill one row, copy it down (much faster than broadcasting)
        color = np.empty((height, width, 3), np.uint8)
        color[0] = np.asarray(background, dtype=np.uint8)
        color[1:] = color[0]
    elif np.shape(background) == (height, width, 3):
        color = np.array(background, dtype=np.uint8)
    else:
        raise ValueError(f"background must be an RGB triple or a {height} × {width} × 3 picture, "
                         f"got shape {np.shape(background)}")
    if light is None:  # from above and from the camera's side, mostly
        light = np.array([rng.uniform(-0.7, 0.7), -rng.uniform(0.3, 1.2), -rng.uniform(0.2, 1.0)])
    light = _unit(np.asarray(light, dtype=np.float64))
    ambient = 0.35
    if appearances is None:
        appearances = [sample_appearance(rng) for _ in joints_cam]
    if len(appearances) != len(joints_cam):
        raise ValueError(f"{len(appearances)} appearances for {len(joints_cam)} people; give one per person")

    parts = [part for P, look in zip(joints_cam, appearances) for part in _body_parts(P, look)]
    if parts:
        a, b = np.array([p[0] for p in parts]), np.array([p[1] for p in parts])
        r, albedo = np.array([p[2] for p in parts]), np.array([p[3] for p in parts], dtype=np.float64)
        if np.any(np.minimum(a[:, 2], b[:, 2]) - r <= 1.0):
            raise ValueError("a body part reaches the camera plane (Z <= its radius): place people in front of "
                             "the camera (camera Z in millimetres, a few metres)")
        _rasterise(color, a, b, r, albedo, f, c, light, ambient)
    return color


# ---------------------------------------------------------------------------------------------- the files


def default_cache_dir() -> Path:
    """$MINIPOSE_CACHE if set, else $XDG_CACHE_HOME/minipose, else ~/.cache/minipose."""
    if os.environ.get("MINIPOSE_CACHE"):
        return Path(os.environ["MINIPOSE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "minipose"


def folder_name(subject: int, action_idx: int, subaction_idx: int, cam_idx: int) -> str:
    """The official image folder name (tool/Human36M/h36m2coco.py)."""
    return "s_%02d_act_%02d_subact_%02d_ca_%02d" % (subject, action_idx, subaction_idx, cam_idx)


def scene_slot(i: int) -> dict:
    """Where scene i goes in Human3.6M's numbering: subjects in turn, then action, camera and frame."""
    k = i // len(SUBJECTS)
    return {"subject": SUBJECTS[i % len(SUBJECTS)], "action_idx": 2 + k % len(ACTION_NAMES), "subaction_idx": 1,
            "cam_idx": 1 + k % CAMERAS_PER_SUBJECT, "frame_idx": k}


def subject_cameras(seed: int, subject: int, width: int, height: int, focal: float) -> dict:
    """The subject's 4 cameras, each from its own generator (so they never depend on the number of scenes)."""
    return {cam: sample_camera(np.random.default_rng([seed, 0, subject, cam]), width, height, focal)
            for cam in range(1, CAMERAS_PER_SUBJECT + 1)}


def _dumps(obj) -> str:
    # Insertion order is fixed by the code; Python floats are written as repr (shortest round-trip form).
    return json.dumps(obj, separators=(",", ":"))


def _check_out(out: Path, overwrite: bool) -> None:
    package = Path(__file__).resolve().parent
    if out == package or package in out.parents:
        raise ValueError(f"refusing to write data inside the minipose package ({package}); "
                         f"pick a folder outside it, e.g. {default_cache_dir()}")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; pick another output folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace "
                                  "it, or pick another folder")
        if not (out / "minipose_synth.json").is_file():
            raise FileExistsError(f"refusing to overwrite {out}: it is not a minipose.synth folder (no "
                                  "minipose_synth.json at its top); delete it yourself or pick another folder")


def _render_scene(task: tuple) -> tuple:
    """Scene i, rendered and saved as JPEG under root/images; returns (slot, joints_world, joints_cam).

    A top-level function of (root, i, seed, width, height, focal) only, so worker processes can run it: scene i
    comes from its own generator and its subject's cameras from theirs, whichever process makes it.
    """
    root, i, seed, width, height, focal = task
    slot = scene_slot(i)
    cam = subject_cameras(seed, slot["subject"], width, height, focal)[slot["cam_idx"]]
    scene = make_scene(np.random.default_rng([seed, i]), cam, width, height)
    path = root / "images" / _file_name(slot)
    path.parent.mkdir(exist_ok=True)
    # Fixed settings (no optimiser pass, 4:2:0 chroma), so the same picture gives the same bytes.
    Image.fromarray(scene.image).save(path, format="JPEG", quality=JPEG_QUALITY,
                                      optimize=False, progressive=False, subsampling=2)
    return slot, scene.joints_world, scene.joints_cam


def _file_name(slot: dict) -> str:
    folder = folder_name(slot["subject"], slot["action_idx"], slot["subaction_idx"], slot["cam_idx"])
    return f"{folder}/{folder}_{slot['frame_idx'] + 1:06d}.jpg"


def _write_into(root: Path, scenes: int, seed: int, width: int, height: int, focal: float, progress: bool,
                workers: int):
    (root / "images").mkdir()
    (root / "annotations").mkdir()
    cameras = {s: subject_cameras(seed, s, width, height, focal) for s in SUBJECTS}
    data = {s: {"images": [], "annotations": []} for s in SUBJECTS}
    joint_3d = {s: {} for s in SUBJECTS}
    ann_id = 0
    tasks = ((root, i, seed, width, height, focal) for i in range(scenes))
    with contextlib.ExitStack() as stack:
        if workers > 1:  # scenes are independent: render them in parallel, take them back in order
            pool = stack.enter_context(concurrent.futures.ProcessPoolExecutor(workers))
            rendered = pool.map(_render_scene, tasks, chunksize=8)
        else:
            rendered = map(_render_scene, tasks)
        if progress:
            from tqdm.auto import tqdm  # here, not at the top: importing tqdm.auto warns in a notebook without ipywidgets
            rendered = tqdm(rendered, total=scenes, desc="synth scenes", unit="scene")
        for i, (slot, joints_world, joints_cam) in enumerate(rendered):
            s, cam = slot["subject"], cameras[slot["subject"]][slot["cam_idx"]]
            data[s]["images"].append({
                "id": i, "file_name": _file_name(slot), "width": width, "height": height, "subject": s,
                "action_name": ACTION_NAMES[slot["action_idx"] - 2], "action_idx": slot["action_idx"],
                "subaction_idx": slot["subaction_idx"], "cam_idx": slot["cam_idx"], "frame_idx": slot["frame_idx"],
                "f": cam["f"].tolist(), "c": cam["c"].tolist(),
            })
            for joints in joints_cam:
                img = cam2pixel(joints, cam["f"], cam["c"])[:, :2]
                vis = (img[:, 0] >= 0) & (img[:, 0] < width) & (img[:, 1] >= 0) & (img[:, 1] < height)
                data[s]["annotations"].append({
                    "id": ann_id, "image_id": i, "bbox": get_bbox(img).tolist(), "keypoints_vis": vis.tolist(),
                    "keypoints_cam": joints.tolist(), "keypoints_img": img.tolist(),
                })
                ann_id += 1
            # One person per frame in this file, as in Human3.6M: the first annotation's.
            frames = joint_3d[s].setdefault(str(slot["action_idx"]), {}).setdefault(str(slot["subaction_idx"]), {})
            frames[str(slot["frame_idx"])] = joints_world[0].tolist()

    for s in SUBJECTS:  # every subject's files, even without scenes: readers open all files of a split
        stem = root / "annotations" / f"Human36M_subject{s}"
        Path(f"{stem}_data.json").write_text(_dumps(data[s]), encoding="utf-8")
        Path(f"{stem}_camera.json").write_text(_dumps({str(k): {key: np.asarray(v).tolist() for key, v in cam.items()}
                                                      for k, cam in cameras[s].items()}), encoding="utf-8")
        Path(f"{stem}_joint_3d.json").write_text(_dumps(joint_3d[s]), encoding="utf-8")
    meta = {"generator": "minipose.synth", "format_version": FORMAT_VERSION, "seed": seed, "scenes": scenes,
            "width": width, "height": height, "focal": focal, "frame_step": 1,
            "command": f"python -m minipose.synth --scenes {scenes} --seed {seed} --width {width} "
                       f"--height {height} --focal {focal!r}"}
    (root / "minipose_synth.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def write_dataset(out_dir, scenes: int, seed: int = 0, width: int = 1000, height: int = 1000,
                  focal: float = 1150.0, overwrite: bool = False, progress: bool = True,
                  workers: int | None = None) -> Path:
    """Write `scenes` synthetic scenes to `out_dir` in the official parsed Human3.6M layout; return the folder.

    Atomic: everything goes to a hidden sibling folder first, renamed to `out_dir` at the end, so a crash or
    Ctrl-C never leaves half a data set under that name. A non-empty `out_dir` is refused unless `overwrite`,
    and even then only if it is an earlier minipose.synth folder. workers: processes that render (default: one per
    CPU core, or one for fewer than 100 scenes); any number gives the same files.
    """
    if isinstance(scenes, bool) or not isinstance(scenes, int) or scenes < 1:
        raise ValueError(f"scenes must be a positive whole number, got {scenes!r}")
    if not (isinstance(width, int) and isinstance(height, int) and width >= 32 and height >= 32):
        raise ValueError(f"width and height must be whole numbers of pixels, at least 32; got {width!r}, {height!r}")
    if not focal > 0:
        raise ValueError(f"focal must be a positive number of pixels (Human3.6M: about 1150), got {focal!r}")
    seed, focal = int(seed), float(focal)
    if workers is None:
        workers = (os.cpu_count() or 1) if scenes >= 100 else 1
    out = Path(out_dir).expanduser().resolve()
    _check_out(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        _write_into(tmp, scenes, seed, width, height, focal, progress, max(1, int(workers)))
        tmp.chmod(0o755)  # mkdtemp makes it private; a data folder is read by others as usual
        _check_out(out, overwrite)  # again: something may have appeared there meanwhile
        if out.is_dir() and any(out.iterdir()):  # an earlier synth folder, and overwrite=True
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "data")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if out.is_dir():
                out.rmdir()
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minipose.synth",
        description="Write synthetic 3D human pose scenes in the official parsed Human3.6M layout.")
    parser.add_argument("--scenes", type=int, required=True, help="how many pictures (scene i → subject "
                        "S1, 5, 6, 7, 8, 9, 11 in turn)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same files (default 0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <cache>/synth-seed<S>-<N>, cache = $MINIPOSE_CACHE, "
                             "$XDG_CACHE_HOME/minipose or ~/.cache/minipose)")
    parser.add_argument("--width", type=int, default=1000, help="picture width in pixels (default 1000)")
    parser.add_argument("--height", type=int, default=1000, help="picture height in pixels (default 1000)")
    parser.add_argument("--focal", type=float, default=1150.0, help="focal length in pixels (default 1150)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier minipose.synth folder")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else default_cache_dir() / f"synth-seed{args.seed}-{args.scenes}"
    start = time.perf_counter()
    try:
        path = write_dataset(out, args.scenes, seed=args.seed, width=args.width, height=args.height,
                             focal=args.focal, overwrite=args.overwrite)
    except (ValueError, FileExistsError, RuntimeError) as err:
        print(f"minipose.synth: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.scenes} scenes to {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

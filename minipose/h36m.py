# Written directly, not generated: tools/gather.py leaves this module alone. Lesson 08 shows how to use it.
"""Read the official parsed Human3.6M file layout — real files or `minipose.synth`'s — into loader records.

The layout (as the official PoseNet code and its tool/Human36M/h36m2coco.py write and read it)::

    <root>/images/s_01_act_02_subact_01_ca_01/s_01_act_02_subact_01_ca_01_000001.jpg
    <root>/annotations/Human36M_subject1_data.json     {"images": [...], "annotations": [...]} (COCO style)
    <root>/annotations/Human36M_subject1_camera.json   {"1": {"R", "t", "f", "c"}, ...}  X_cam = R·X_world + t
    <root>/annotations/Human36M_subject1_joint_3d.json {action: {subaction: {frame: 17 × 3 world mm}}}

One person per frame in Human3.6M. For several people per picture (the synthetic scenes), each annotation may also
carry its own camera-space joints as the official MuCo/MuPoTS files do (`keypoints_cam`, 17 × 3 mm), with `f` and
`c` on the image; when present they are used, otherwise the joints come from joint_3d.json and the camera.

Every record is a dict like the official loaders' `data` entries (img_path, bbox, joint_img, joint_cam, joint_vis,
root_cam, f, c, ...). A malformed folder raises an error naming the file and the field; nobody is dropped silently.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from minipose.camera import cam2pixel, world2cam
from minipose.config import Config, cfg
from minipose.data import process_bbox
from minipose.skeleton import FILE_JOINT_NUM, JOINT_NUM, ROOT_IDX, add_thorax

# Subject splits of the paper's two protocols (official Human36M.get_subject).
PROTOCOL_SUBJECTS = {
    1: {"train": (1, 5, 6, 7, 8, 9), "test": (11,)},
    2: {"train": (1, 5, 6, 7, 8), "test": (9, 11)},
}
# Official frame subsampling of the videos (Human36M.get_subsampling_ratio): every 5th frame to train, 64th to test.
OFFICIAL_FRAME_STEP = {"train": 5, "test": 64}
ACTION_NAMES = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
                "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether")
IMAGE_FIELDS = ("id", "file_name", "width", "height", "subject", "action_idx", "subaction_idx", "cam_idx", "frame_idx")
ANNOTATION_FIELDS = ("id", "image_id", "bbox")
CAMERA_FIELDS = ("R", "t", "f", "c")
LAYOUT_HELP = ("expected <root>/annotations/Human36M_subject<S>_{data,camera,joint_3d}.json and <root>/images/ "
               "(the official parsed Human3.6M layout; `python -m minipose.synth` writes one)")


class DataFolderError(ValueError):
    """A data folder that does not follow the layout; the message names the file and what is wrong."""


def _read_json(path: Path):
    if not path.is_file():
        raise DataFolderError(f"missing file {path}: {LAYOUT_HELP}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFolderError(f"{path} is not valid JSON ({err}); re-copy or re-generate it") from None


def _need(entry: dict, fields, path: Path, what: str):
    if not isinstance(entry, dict):
        raise DataFolderError(f"{path}: an entry of {what} is {type(entry).__name__}, expected an object")
    missing = [f for f in fields if f not in entry]
    if missing:
        ident = f" (id {entry['id']})" if "id" in entry else ""
        raise DataFolderError(f"{path}: {what}{ident} lacks field(s) {', '.join(missing)}; "
                              f"every {what} needs {', '.join(fields)}")


def _joints(value, path: Path, what: str, rows: int = FILE_JOINT_NUM) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (rows, 3):
        raise DataFolderError(f"{path}: {what} has shape {arr.shape}, expected {rows} × 3 (Human3.6M's 17 joints, mm)")
    return arr


def is_synthetic(root) -> bool:
    """True for a folder written by `minipose.synth` (it leaves minipose_synth.json at the top)."""
    return (Path(root) / "minipose_synth.json").is_file()


def load_h36m(root, split: str = "train", protocol: int = 2, subjects=None, frame_step: int | None = None,
              config: Config = cfg) -> list[dict]:
    """Records of one split, in file order. See the module docstring for the layout.

    subjects: defaults to the protocol's split (protocol 2: train S1, 5, 6, 7, 8 / test S9, 11).
    frame_step: keep frames whose index is a multiple of it; None = the official 5 (train) / 64 (test) for the
    real videos, 1 for synthetic folders (every synthetic frame is its own scene).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataFolderError(f"data folder {root} does not exist; make one with `python -m minipose.synth "
                              "--scenes N --out FOLDER` or point at your parsed Human3.6M folder")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if subjects is None:
        if protocol not in PROTOCOL_SUBJECTS:
            raise ValueError(f"protocol must be 1 or 2 (the paper's), got {protocol!r}")
        subjects = PROTOCOL_SUBJECTS[protocol][split]
    if frame_step is None:
        frame_step = 1 if is_synthetic(root) else OFFICIAL_FRAME_STEP[split]

    records = []
    for subject in subjects:
        records += _load_subject(root, int(subject), frame_step, config)
    return records


def _load_subject(root: Path, subject: int, frame_step: int, config: Config) -> list[dict]:
    annot = root / "annotations"
    data_path = annot / f"Human36M_subject{subject}_data.json"
    cam_path = annot / f"Human36M_subject{subject}_camera.json"
    joint_path = annot / f"Human36M_subject{subject}_joint_3d.json"
    data, cameras, joints = _read_json(data_path), _read_json(cam_path), _read_json(joint_path)
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or key not in data:
            raise DataFolderError(f"{data_path} has no '{key}' list; {LAYOUT_HELP}")

    images = {}
    for img in data["images"]:
        _need(img, IMAGE_FIELDS, data_path, "image")
        images[img["id"]] = img

    records = []
    for ann in data["annotations"]:
        _need(ann, ANNOTATION_FIELDS, data_path, "annotation")
        img = images.get(ann["image_id"])
        if img is None:
            raise DataFolderError(f"{data_path}: annotation {ann['id']} points at image_id {ann['image_id']}, "
                                  "which is not in 'images'")
        if img["subject"] != subject:
            continue  # the official loader keeps only the file's own subject too
        if img["frame_idx"] % frame_step != 0:
            continue

        cam = cameras.get(str(img["cam_idx"]))
        if cam is None:
            raise DataFolderError(f"{cam_path} has no camera {img['cam_idx']!r} (image {img['id']} uses it); "
                                  f"it has {sorted(cameras)}")
        _need(cam, CAMERA_FIELDS, cam_path, f"camera {img['cam_idx']}")
        f = np.asarray(img.get("f", cam["f"]), dtype=np.float64).reshape(2)
        c = np.asarray(img.get("c", cam["c"]), dtype=np.float64).reshape(2)

        if "keypoints_cam" in ann:  # MuCo style: this person's own camera-space joints
            joint_cam = _joints(ann["keypoints_cam"], data_path, f"annotation {ann['id']}'s keypoints_cam")
        else:  # Human3.6M style: the frame's world joints through the camera
            try:
                world = joints[str(img["action_idx"])][str(img["subaction_idx"])][str(img["frame_idx"])]
            except (KeyError, TypeError):
                raise DataFolderError(
                    f"{joint_path} has no joints for action {img['action_idx']}, subaction {img['subaction_idx']}, "
                    f"frame {img['frame_idx']} (image {img['id']}, {img['file_name']})") from None
            world = _joints(world, joint_path, f"frame {img['frame_idx']} of action {img['action_idx']}")
            R = np.asarray(cam["R"], dtype=np.float64).reshape(3, 3)
            t = np.asarray(cam["t"], dtype=np.float64).reshape(3)
            joint_cam = world2cam(world, R, t)
        joint_cam = add_thorax(joint_cam)
        if joint_cam[ROOT_IDX, 2] <= 0 or np.any(joint_cam[:, 2] <= 0):
            raise DataFolderError(f"{data_path}: annotation {ann['id']} has joints at or behind the camera (Z <= 0); "
                                  "check the camera's R and t (X_cam = R·X_world + t, millimetres)")
        joint_img = cam2pixel(joint_cam, f, c)
        joint_img[:, 2] -= joint_cam[ROOT_IDX, 2]  # depth relative to the root, as the targets want it

        bbox = process_bbox(ann["bbox"], img["width"], img["height"], config.input_shape)
        if bbox is None:
            raise DataFolderError(
                f"{data_path}: annotation {ann['id']} (image {img['file_name']}) has box {ann['bbox']}, which has no "
                f"area inside the {img['width']} × {img['height']} picture (no size, or it starts beyond the right "
                "or bottom edge); fix or remove that annotation")
        records.append({
            "img_path": str(root / "images" / img["file_name"]),
            "img_id": img["id"],
            "ann_id": ann["id"],
            "subject": subject,
            "action_idx": img["action_idx"],
            "bbox": bbox,
            "joint_img": joint_img,  # x, y in picture pixels; Z − Z_root in mm
            "joint_cam": joint_cam,  # X, Y, Z in camera mm
            "joint_vis": np.ones((JOINT_NUM, 1)),
            "root_cam": joint_cam[ROOT_IDX].copy(),
            "f": f,
            "c": c,
        })
    return records


class Human36M:
    """The official loader's face: `Human36M(root, 'train').data` is the list of records (see `load_h36m`)."""

    def __init__(self, root, split: str = "train", protocol: int = 2, subjects=None, frame_step=None,
                 config: Config = cfg):
        self.root, self.split, self.protocol = Path(root), split, protocol
        self.data = load_h36m(root, split, protocol, subjects, frame_step, config)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Human36M({str(self.root)!r}, split={self.split!r}, protocol={self.protocol}): {len(self.data)} people"

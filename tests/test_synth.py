"""minipose.synth: synthetic scenes in the official parsed Human3.6M layout, and its renderer.

Expectations are written here by hand — official field names and file-name pattern, bone means, joint limits,
the pinhole formula, the official get_bbox — never read back from synth's own constants. Rendering is checked
by what a picture must show: perspective, the nearer person in front, a left-right mirror symmetry.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from minipose import synth
from minipose.skeleton import JOINTS_NAME

J = {name: i for i, name in enumerate(JOINTS_NAME)}
SUBJECTS = (1, 5, 6, 7, 8, 9, 11)  # official order of tool/Human36M/h36m2coco.py
OFFICIAL_ACTIONS = ["Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
                    "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether"]
IMAGE_FIELDS = ["id", "file_name", "width", "height", "subject", "action_name", "action_idx", "subaction_idx",
                "cam_idx", "frame_idx"]
ANNOTATION_FIELDS = ["id", "image_id", "bbox", "keypoints_vis"]
CAMERA_FIELDS = ["R", "t", "f", "c"]
FILE_NAME = re.compile(r"^(s_(\d\d)_act_(\d\d)_subact_(\d\d)_ca_(\d\d))/\1_(\d{6})\.jpg$")
SMALL = dict(width=320, height=320, focal=368.0)  # same field of view as 1000 px at 1150, a tenth of the pixels


def files_of(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def load(root: Path, subject: int, kind: str):
    return json.loads((root / "annotations" / f"Human36M_subject{subject}_{kind}.json").read_text())


def official_get_bbox(joint_img):
    """tool/Human36M/h36m2coco.py's get_bbox, retyped."""
    xmin, ymin = min(p[0] for p in joint_img), min(p[1] for p in joint_img)
    xmax, ymax = max(p[0] for p in joint_img), max(p[1] for p in joint_img)
    width, height = xmax - xmin - 1, ymax - ymin - 1
    return [(xmin + xmax) / 2.0 - width / 2 * 1.2, (ymin + ymax) / 2.0 - height / 2 * 1.2, width * 1.2, height * 1.2]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """16 scenes: every subject has images, S1 and S5 have three (frames 0–2)."""
    return synth.write_dataset(tmp_path_factory.mktemp("synth") / "set", 16, seed=7, progress=False, **SMALL)


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, small_set):
    again = files_of(synth.write_dataset(tmp_path / "again", 16, seed=7, progress=False, **SMALL))
    first = files_of(small_set)
    assert sorted(again) == sorted(first) and any(name.endswith(".jpg") for name in first)
    for name in first:
        assert again[name] == first[name], f"{name} differs between two runs with the same seed"
    other = files_of(synth.write_dataset(tmp_path / "other", 16, seed=8, progress=False, **SMALL))
    for name in first:
        if name.endswith(".jpg") or name.endswith("_data.json") and "subject1_" in name:
            assert other[name] != first[name], f"{name} is the same with another seed"


def test_worker_processes_write_the_same_bytes(tmp_path, small_set):
    # The cpu preset's 6000 scenes are rendered by one process per core; the files must not depend on that.
    parallel = files_of(synth.write_dataset(tmp_path / "parallel", 16, seed=7, progress=False, workers=2, **SMALL))
    first = files_of(small_set)
    assert sorted(parallel) == sorted(first)
    for name in first:
        assert parallel[name] == first[name], f"{name} differs when two processes render the scenes"


def test_scene_i_does_not_depend_on_the_number_of_scenes(tmp_path):
    three = synth.write_dataset(tmp_path / "three", 3, seed=2, progress=False, **SMALL)
    five = synth.write_dataset(tmp_path / "five", 5, seed=2, progress=False, **SMALL)
    for subject in (1, 5, 6):  # scenes 0, 1, 2
        a, b = load(three, subject, "data"), load(five, subject, "data")
        assert a == b
        assert load(three, subject, "joint_3d") == load(five, subject, "joint_3d")
        for img in a["images"]:
            assert (three / "images" / img["file_name"]).read_bytes() == (five / "images" / img["file_name"]).read_bytes()
    for subject in SUBJECTS:  # cameras never depend on N either
        assert load(three, subject, "camera") == load(five, subject, "camera")


def test_no_global_random_state_is_used_or_changed():
    camera = synth.sample_camera(np.random.default_rng(0), 320, 320, 368.0)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = synth.make_scene(np.random.default_rng(5), camera, **{k: SMALL[k] for k in ("width", "height")})
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(999)
    second = synth.make_scene(np.random.default_rng(5), camera, **{k: SMALL[k] for k in ("width", "height")})
    assert np.array_equal(first.image, second.image) and np.array_equal(first.joints_world, second.joints_world)


# ---------------------------------------------------------------- the files


def test_layout_has_the_official_names_and_numbering(small_set):
    assert (small_set / "minipose_synth.json").is_file()
    meta = json.loads((small_set / "minipose_synth.json").read_text())
    assert meta["generator"] == "minipose.synth" and meta["format_version"] == 1 and meta["frame_step"] == 1
    assert (meta["seed"], meta["scenes"], meta["width"], meta["height"]) == (7, 16, 320, 320)
    assert meta["command"].startswith("python -m minipose.synth --scenes 16 --seed 7")

    images_seen = 0
    for subject in SUBJECTS:  # every subject's three files exist, even with few scenes
        data, cameras, joints = load(small_set, subject, "data"), load(small_set, subject, "camera"), \
            load(small_set, subject, "joint_3d")
        assert sorted(data) == ["annotations", "images"]
        assert sorted(cameras) == ["1", "2", "3", "4"]
        for cam in cameras.values():
            assert all(field in cam for field in CAMERA_FIELDS)
            assert np.shape(cam["R"]) == (3, 3) and np.shape(cam["t"]) == (3,)
            assert np.shape(cam["f"]) == (2,) and cam["c"] == [160.0, 160.0]
            R = np.array(cam["R"])
            np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
            assert np.linalg.det(R) == pytest.approx(1.0)
        for img in data["images"]:
            images_seen += 1
            assert all(field in img for field in IMAGE_FIELDS), img
            i = img["id"]  # scene i: subject in turn, then action, camera and frame (hand-written here)
            k = i // 7
            assert img["subject"] == subject == SUBJECTS[i % 7]
            assert (img["action_idx"], img["subaction_idx"], img["cam_idx"], img["frame_idx"]) == \
                (2 + k % 15, 1, 1 + k % 4, k)
            assert img["action_name"] == OFFICIAL_ACTIONS[img["action_idx"] - 2]
            match = FILE_NAME.match(img["file_name"])
            assert match, img["file_name"]
            assert [int(g) for g in match.groups()[1:]] == [subject, img["action_idx"], img["subaction_idx"],
                                                             img["cam_idx"], img["frame_idx"] + 1]
            with Image.open(small_set / "images" / img["file_name"]) as pic:
                assert pic.format == "JPEG" and pic.size == (img["width"], img["height"]) == (320, 320)
            world = joints[str(img["action_idx"])][str(img["subaction_idx"])][str(img["frame_idx"])]
            assert np.shape(world) == (17, 3)
        ids = [a["image_id"] for a in data["annotations"]]
        assert sorted(set(ids)) == sorted(img["id"] for img in data["images"])
        for ann in data["annotations"]:
            assert all(field in ann for field in ANNOTATION_FIELDS + ["keypoints_cam", "keypoints_img"])
    assert images_seen == 16
    all_ann_ids = [a["id"] for s in SUBJECTS for a in load(small_set, s, "data")["annotations"]]
    assert len(all_ann_ids) == len(set(all_ann_ids)) >= 16


def test_joints_boxes_and_projection_agree_with_hand_written_formulas(small_set):
    people = 0
    for subject in SUBJECTS:
        data, cameras, joints = (load(small_set, subject, kind) for kind in ("data", "camera", "joint_3d"))
        images = {img["id"]: img for img in data["images"]}
        first = {}
        for ann in sorted(data["annotations"], key=lambda a: a["id"]):
            first.setdefault(ann["image_id"], ann)
            img = images[ann["image_id"]]
            cam = cameras[str(img["cam_idx"])]
            assert img["f"] == cam["f"] and img["c"] == cam["c"]
            X = np.array(ann["keypoints_cam"])
            x = np.array(ann["keypoints_img"])
            f, c = img["f"], img["c"]
            np.testing.assert_allclose(x[:, 0], f[0] * X[:, 0] / X[:, 2] + c[0], rtol=0, atol=1e-9)
            np.testing.assert_allclose(x[:, 1], f[1] * X[:, 1] / X[:, 2] + c[1], rtol=0, atol=1e-9)
            np.testing.assert_allclose(ann["bbox"], official_get_bbox(ann["keypoints_img"]), rtol=0, atol=1e-9)
            x0, y0, w, h = ann["bbox"]  # every joint inside, and the official box too
            assert x0 >= 0 and y0 >= 0 and x0 + w <= 320 and y0 + h <= 320
            assert ann["keypoints_vis"] == [True] * 17
            assert 3000 <= X[0, 2] <= 7000  # the pelvis 3–7 m in front of the camera
            people += 1
        for image_id, ann in first.items():  # joint_3d holds the first person: X_cam = R·X_world + t
            img, cam = images[image_id], cameras[str(images[image_id]["cam_idx"])]
            world = np.array(joints[str(img["action_idx"])][str(img["subaction_idx"])][str(img["frame_idx"])])
            cam_joints = world @ np.array(cam["R"]).T + np.array(cam["t"])
            np.testing.assert_allclose(cam_joints, ann["keypoints_cam"], rtol=0, atol=1e-6)
    assert people > 16  # some pictures hold several people


def test_people_count_and_depth_over_many_scenes():
    camera = synth.sample_camera(np.random.default_rng(1), 320, 320, 368.0)
    counts, depths = [], []
    for i in range(30):
        scene = synth.make_scene(np.random.default_rng([1, i]), camera, 320, 320)
        assert scene.image.shape == (320, 320, 3) and scene.image.dtype == np.uint8
        assert scene.joints_world.shape == scene.joints_cam.shape == (len(scene.joints_cam), 17, 3)
        counts.append(len(scene.joints_cam))
        depths += list(scene.joints_cam[:, 0, 2])
        # the floor is z = 0 in the world: nobody's lowest joint is below it or floating a metre above it
        assert np.all(scene.joints_world[:, :, 2].min(axis=1) > 0)
        assert np.all(scene.joints_world[:, :, 2].min(axis=1) < 300)
    assert set(counts) == {1, 2, 3}
    assert 3000 <= min(depths) and max(depths) <= 7000 and max(depths) - min(depths) > 2500


def test_camera_is_human36m_like():
    for seed in range(50):
        cam = synth.sample_camera(np.random.default_rng(seed))
        assert cam["c"].tolist() == [500.0, 500.0]
        assert np.all(np.abs(cam["f"] / 1150.0 - 1) <= 0.03)
        R, t = cam["R"], cam["t"]
        eye = -R.T @ t
        assert 800 <= eye[2] <= 1800  # height above the floor, mm
        forward = R[2]  # the camera's z axis in the world
        assert abs(np.degrees(np.arcsin(forward[2]))) < 15  # roughly horizontal
        down = R[1]
        assert down[2] < -0.95  # image y points down the world's z


# ---------------------------------------------------------------- bodies and poses

BONE_MEANS = {  # mm, the brief's mean skeleton (Human3.6M-like), written out here
    ("Pelvis", "R_Hip"): 130, ("Pelvis", "L_Hip"): 130, ("R_Hip", "R_Knee"): 450, ("L_Hip", "L_Knee"): 450,
    ("R_Knee", "R_Ankle"): 445, ("L_Knee", "L_Ankle"): 445, ("Pelvis", "Torso"): 230, ("Torso", "Neck"): 250,
    ("Neck", "Nose"): 115, ("Nose", "Head"): 115, ("Neck", "R_Shoulder"): 150, ("Neck", "L_Shoulder"): 150,
    ("R_Shoulder", "R_Elbow"): 280, ("L_Shoulder", "L_Elbow"): 280, ("R_Elbow", "R_Wrist"): 250,
    ("L_Elbow", "L_Wrist"): 250,
}


def angle(a, b):
    """Degrees between two vectors."""
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_bones_and_joint_angles_stay_human():
    rng = np.random.default_rng(0)
    knees, elbows = [], []
    for _ in range(1500):
        P = synth.sample_pose(rng)
        assert P.shape == (17, 3)
        np.testing.assert_allclose(P[J["Pelvis"]], 0, atol=1e-9)
        for (x, y), mean in BONE_MEANS.items():
            length = np.linalg.norm(P[J[x]] - P[J[y]])
            assert 0.9 * mean - 1e-6 <= length <= 1.1 * mean + 1e-6, (x, y, length)
        for r, l in (("R_Hip", "L_Hip"), ("R_Knee", "L_Knee"), ("R_Ankle", "L_Ankle"), ("R_Shoulder", "L_Shoulder"),
                     ("R_Elbow", "L_Elbow"), ("R_Wrist", "L_Wrist")):  # each bone's left twin is as long
            parent = {"Hip": "Pelvis", "Knee": "Hip", "Ankle": "Knee", "Shoulder": "Neck", "Elbow": "Shoulder",
                      "Wrist": "Elbow"}[r[2:]]
            pr, pl = (parent if parent in ("Pelvis", "Neck") else f"{s}_{parent}" for s in "RL")
            assert np.linalg.norm(P[J[r]] - P[J[pr]]) == pytest.approx(np.linalg.norm(P[J[l]] - P[J[pl]]), abs=1e-9)
        for s in "RL":  # flexion = the angle between the two bones at the joint
            knees.append(angle(P[J[f"{s}_Knee"]] - P[J[f"{s}_Hip"]], P[J[f"{s}_Ankle"]] - P[J[f"{s}_Knee"]]))
            elbows.append(angle(P[J[f"{s}_Elbow"]] - P[J[f"{s}_Shoulder"]], P[J[f"{s}_Wrist"]] - P[J[f"{s}_Elbow"]]))
    knees, elbows = np.array(knees), np.array(elbows)
    assert knees.max() <= 150 + 1e-6 and elbows.max() <= 145 + 1e-6
    # variety, not noise around one pose: straight and deeply bent knees and elbows both occur
    assert np.mean(knees < 10) > 0.2 and np.mean(knees > 90) > 0.1
    assert np.mean(elbows < 20) > 0.2 and np.mean(elbows > 90) > 0.05


def test_given_bone_lengths_are_used():
    bones = synth.sample_bone_lengths(np.random.default_rng(0))
    P = synth.sample_pose(np.random.default_rng(1), bones)
    assert np.linalg.norm(P[J["R_Knee"]] - P[J["R_Hip"]]) == pytest.approx(bones["thigh"])
    with pytest.raises(ValueError, match="bone_lengths lacks"):
        synth.sample_pose(np.random.default_rng(1), {"thigh": 400.0})


# ---------------------------------------------------------------- rendering

W = H = 400
CAMERA = {"R": np.eye(3), "t": np.zeros(3), "f": np.array([460.0, 460.0]), "c": np.array([W / 2, H / 2])}
BACKGROUND = (1, 2, 3)
LOOK = {"skin": np.array([230.0, 180, 150]), "hair": np.array([20.0, 220, 20]), "shirt": np.array([200.0, 60, 60]),
        "trousers": np.array([60.0, 60, 200]), "shoes": np.array([120.0, 120, 40]), "short_sleeves": False,
        "shorts": False}
# A person facing the camera, mirror-symmetric about the plane x = 0 (camera frame: x right, y down, z forward;
# their right side is on the picture's left). Millimetres from the pelvis.
FACING = {
    "Pelvis": (0, 0, 0), "R_Hip": (-130, 0, 0), "L_Hip": (130, 0, 0), "R_Knee": (-140, 445, -40),
    "L_Knee": (140, 445, -40), "R_Ankle": (-150, 885, 20), "L_Ankle": (150, 885, 20), "Torso": (0, -230, 0),
    "Neck": (0, -478, 10), "Nose": (0, -580, -45), "Head": (0, -690, -5), "L_Shoulder": (150, -465, 10),
    "R_Shoulder": (-150, -465, 10), "L_Elbow": (290, -240, -60), "R_Elbow": (-290, -240, -60),
    "L_Wrist": (330, -10, -170), "R_Wrist": (-330, -10, -170),
}
POSE = np.array([FACING[name] for name in JOINTS_NAME[:17]], dtype=float)


def draw(*people, looks=None, light=(0.0, -0.6, -0.8)):
    joints = np.stack([POSE + np.asarray(at, dtype=float) for at in people])
    return synth.render(joints, CAMERA, W, H, np.random.default_rng(0), background=BACKGROUND, light=light,
                        appearances=looks or [LOOK] * len(people))


def mask(img):
    return np.any(img != np.array(BACKGROUND, dtype=np.uint8), axis=-1)


def test_render_shows_perspective():
    heights = []
    for Z in (3000.0, 6000.0):
        rows = np.flatnonzero(mask(draw((0, 0, Z))).any(axis=1))
        heights.append(rows[-1] - rows[0] + 1)
    assert heights[0] > 200  # big enough to measure
    assert heights[1] / heights[0] == pytest.approx(0.5, abs=0.03)


def test_render_keeps_the_nearer_person_in_front():
    near, far = (0, 0, 3000.0), (250, 100, 4200.0)
    look_far = dict(LOOK, shirt=np.array([60.0, 200, 60]), trousers=np.array([200.0, 200, 60]))
    alone_near, alone_far = draw(near), draw(far, looks=[look_far])
    overlap = mask(alone_near) & mask(alone_far)
    only_far = mask(alone_far) & ~mask(alone_near)
    assert overlap.sum() > 2000 and only_far.sum() > 500
    for both in (draw(near, far, looks=[LOOK, look_far]), draw(far, near, looks=[look_far, LOOK])):
        np.testing.assert_array_equal(both[overlap], alone_near[overlap])  # whichever is listed first
        np.testing.assert_array_equal(both[only_far], alone_far[only_far])


def test_depth_is_tested_per_pixel_not_per_part():
    # Two capsules crossing like an X in depth: red is nearer on the left, blue on the right, so no order of
    # drawing whole parts gets both sides right; only a per-pixel depth test does. (_rasterise: render's core.)
    ends = {"red": ((-300.0, 0, 4000), (300.0, 0, 5000)), "blue": ((-300.0, 0, 5000), (300.0, 0, 4000))}
    colours = {"red": (220.0, 20, 20), "blue": (20.0, 20, 220)}
    for order in (["red", "blue"], ["blue", "red"]):
        img = np.zeros((H, W, 3), np.uint8)
        synth._rasterise(img, np.array([ends[k][0] for k in order]), np.array([ends[k][1] for k in order]),
                         np.array([60.0, 60.0]), np.array([colours[k] for k in order]), CAMERA["f"], CAMERA["c"],
                         np.array([0.0, 0, -1]), 0.35)
        row = img[H // 2].astype(int)
        left, right = row[W // 2 - 40: W // 2 - 10], row[W // 2 + 10: W // 2 + 40]
        assert np.all(left[:, 0] > left[:, 2] + 50), order  # red in front on the left
        assert np.all(right[:, 2] > right[:, 0] + 50), order  # blue in front on the right


def test_render_is_mirror_symmetric_for_a_symmetric_person():
    img = draw((0, 0, 4000.0)).astype(int)
    assert mask(img).sum() > 5000
    # The principal point is column 200: column j mirrors to 400 − j, so columns 1..399 map onto themselves.
    half, mirrored = img[:, 1:], img[:, 1:][:, ::-1]
    diff = np.abs(half - mirrored).max(axis=-1)
    assert diff.mean() < 0.5 and np.mean(diff > 30) < 0.002


def test_render_tells_front_from_back():
    # Turned half round about the vertical: from behind, the hair (green here) covers the head; from the front,
    # the face (skin) does. Feet and knees point the other way too.
    back = POSE * np.array([-1.0, 1, -1])
    back[[J["R_Hip"], J["R_Knee"], J["R_Ankle"], J["R_Shoulder"], J["R_Elbow"], J["R_Wrist"]]], \
        back[[J["L_Hip"], J["L_Knee"], J["L_Ankle"], J["L_Shoulder"], J["L_Elbow"], J["L_Wrist"]]] = \
        back[[J["L_Hip"], J["L_Knee"], J["L_Ankle"], J["L_Shoulder"], J["L_Elbow"], J["L_Wrist"]]], \
        back[[J["R_Hip"], J["R_Knee"], J["R_Ankle"], J["R_Shoulder"], J["R_Elbow"], J["R_Wrist"]]]
    front_img = draw((0, 0, 4000.0)).astype(int)
    back_img = synth.render((back + [0, 0, 4000.0])[None], CAMERA, W, H, np.random.default_rng(0),
                            background=BACKGROUND, light=(0.0, -0.6, -0.8), appearances=[LOOK]).astype(int)
    green = lambda im: np.sum((im[..., 1] > im[..., 0] + 60) & (im[..., 1] > im[..., 2] + 60))  # noqa: E731
    assert green(back_img) > 3 * green(front_img) + 200


def test_render_rejects_bad_input():
    with pytest.raises(ValueError, match="k × 17 × 3"):
        synth.render(np.zeros((2, 18, 3)), CAMERA, W, H, np.random.default_rng(0))
    with pytest.raises(ValueError, match="in front of the camera"):
        synth.render((POSE + [0, 0, 50.0])[None], CAMERA, W, H, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one per person"):
        draw((0, 0, 4000.0), looks=[LOOK, LOOK])


# ---------------------------------------------------------------- safety and the command line


def test_refuses_a_non_empty_folder_and_overwrites_only_its_own(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty.*overwrite"):
        synth.write_dataset(busy, 1, progress=False, **SMALL)
    with pytest.raises(FileExistsError, match="not a minipose.synth folder"):
        synth.write_dataset(busy, 1, overwrite=True, progress=False, **SMALL)
    assert (busy / "notes.txt").read_text() == "mine"

    (tmp_path / "empty").mkdir()
    out = synth.write_dataset(tmp_path / "empty", 1, progress=False, **SMALL)  # an empty folder is fine
    before = files_of(out)
    synth.write_dataset(out, 2, overwrite=True, progress=False, **SMALL)
    assert len([n for n in files_of(out) if n.endswith(".jpg")]) == 2 and files_of(out) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "empty"]  # no temporary folders left

    with pytest.raises(ValueError, match="inside the minipose package"):
        synth.write_dataset(Path(synth.__file__).parent / "data", 1, progress=False, **SMALL)


def test_a_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("disk full, say")
        return real(*args, **kwargs)

    real = synth.make_scene
    monkeypatch.setattr(synth, "make_scene", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        synth.write_dataset(tmp_path / "out", 3, progress=False, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIPOSE_CACHE", str(tmp_path / "cache"))
    assert synth.default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("MINIPOSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert synth.default_cache_dir() == tmp_path / "xdg" / "minipose"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert synth.default_cache_dir() == Path.home() / ".cache" / "minipose"


def test_cli_writes_n_scenes_and_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINIPOSE_CACHE", str(tmp_path))
    assert synth.main(["--scenes", "3", "--seed", "4", "--width", "320", "--height", "320", "--focal", "368"]) == 0
    out = tmp_path / "synth-seed4-3"  # the default folder
    assert str(out) in capsys.readouterr().out
    assert len(list((out / "images").rglob("*.jpg"))) == 3
    assert synth.main(["--scenes", "3", "--seed", "4", "--width", "320", "--height", "320", "--focal", "368"]) == 2
    assert "--overwrite" in capsys.readouterr().err  # refused, and says how to go on


def test_python_dash_m_runs(tmp_path):
    out = tmp_path / "cli"
    run = subprocess.run([sys.executable, "-m", "minipose.synth", "--scenes", "2", "--out", str(out), "--width",
                          "160", "--height", "160", "--focal", "184"], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"wrote 2 scenes to {out}" in run.stdout
    assert sorted(p.name for p in (out / "images").rglob("*.jpg")) == ["s_01_act_02_subact_01_ca_01_000001.jpg",
                                                                      "s_05_act_02_subact_01_ca_01_000001.jpg"]


# ---------------------------------------------------------------- the shipped sample

SAMPLE = ROOT / "data" / "synth_sample"


def test_shipped_sample_is_what_its_command_writes(tmp_path):
    meta = json.loads((SAMPLE / "minipose_synth.json").read_text())
    args = meta["command"].split()[3:]
    assert synth.main(args + ["--out", str(tmp_path / "again")]) == 0
    shipped, again = files_of(SAMPLE), files_of(tmp_path / "again")
    assert sorted(shipped) == sorted(again)
    assert sum(len(b) for b in shipped.values()) < 5 * 2**20  # small enough to ship
    for name, data in shipped.items():
        if name.endswith(".json"):  # numbers may differ in the last bit on another platform's libm
            a, b = json.loads(data), json.loads(again[name])
            assert _close(a, b), name
        else:  # JPEG bytes may differ with another libjpeg; the pictures may not
            with Image.open(SAMPLE / name) as x, Image.open(tmp_path / "again" / name) as y:
                assert np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int)).mean() < 0.5, name


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return isinstance(b, (int, float)) and abs(a - b) <= 1e-6 * max(1.0, abs(a))
    return a == b

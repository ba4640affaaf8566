"""The data side of lessons 08-10: skeleton, camera, boxes, crops, targets, the file-layout reader and its errors.

References are written here, independently of the package: hand-computed numbers, an affine solved from three
point pairs (as OpenCV's getAffineTransform does), bilinear sampling in plain numpy, and a fixture written by hand
in the official parsed Human3.6M layout with the official field names.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT as ROOT_DIR
from minipose import Config, cfg
from minipose.camera import cam2pixel, cam2world, pixel2cam, world2cam
from minipose.data import (PoseDataset, crop_affine, flip_joint_img, gen_trans_from_patch, get_aug_config,
                           joints_to_target, process_bbox, warp_crop)
from minipose.h36m import DataFolderError, Human36M, load_h36m
from minipose.skeleton import (EVAL_JOINTS, FLIP_PAIRS, JOINT_NUM, JOINTS_NAME, ROOT_IDX, SKELETON, add_thorax,
                               swap_left_right)

# ---------------------------------------------------------------- skeleton


def test_skeleton_is_the_official_one():
    assert JOINTS_NAME == ("Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Torso", "Neck",
                           "Nose", "Head", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist",
                           "Thorax")
    assert JOINT_NUM == 18 and ROOT_IDX == 0 and EVAL_JOINTS == tuple(range(17))
    pairs = {frozenset((JOINTS_NAME[a], JOINTS_NAME[b])) for a, b in FLIP_PAIRS}
    assert pairs == {frozenset((f"R_{p}", f"L_{p}")) for p in ("Hip", "Knee", "Ankle", "Shoulder", "Elbow", "Wrist")}
    assert len(SKELETON) == 16 and {j for bone in SKELETON for j in bone} == set(range(17))  # Thorax not drawn


def test_add_thorax_is_the_shoulder_midpoint():
    joints = np.arange(51, dtype=float).reshape(17, 3)
    out = add_thorax(joints)
    assert out.shape == (18, 3)
    np.testing.assert_array_equal(out[17], (joints[11] + joints[14]) / 2)
    with pytest.raises(ValueError, match="17 × 3"):
        add_thorax(np.zeros((18, 3)))


def test_swap_left_right_swaps_exactly_the_pairs_and_twice_is_identity():
    names = np.array(JOINTS_NAME, dtype=object)[:, None]
    swapped = swap_left_right(names)[:, 0]
    for i, name in enumerate(JOINTS_NAME):
        expected = name.replace("R_", "X_").replace("L_", "R_").replace("X_", "L_")
        assert swapped[i] == expected, (i, name)
    joints = np.random.default_rng(0).normal(size=(18, 3))
    np.testing.assert_array_equal(swap_left_right(swap_left_right(joints)), joints)


def test_flip_of_a_flip_is_the_identity_and_mirrors_x():
    joints = np.random.default_rng(1).uniform(0, 999, size=(18, 3))
    once = flip_joint_img(joints, 1000)
    assert once[4, 0] == pytest.approx(999 - joints[1, 0])  # L_Hip now sits where the mirrored R_Hip was
    assert once[0, 0] == pytest.approx(999 - joints[0, 0]) and once[0, 2] == joints[0, 2]
    np.testing.assert_allclose(flip_joint_img(once, 1000), joints, atol=1e-12)

# ---------------------------------------------------------------- camera


def test_camera_projection_against_hand_numbers():
    # A camera turned 90° about the vertical: world +y is camera +z; 1 m back along it.
    R = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    t = np.array([0.0, 0.0, 1000.0])
    world = np.array([[100.0, 2000.0, 50.0]])
    cam = world2cam(world, R, t)
    np.testing.assert_allclose(cam, [[100.0, -50.0, 3000.0]])
    pix = cam2pixel(cam, (1000.0, 1100.0), (500.0, 400.0))
    np.testing.assert_allclose(pix, [[100 / 3000 * 1000 + 500, -50 / 3000 * 1100 + 400, 3000.0]])
    np.testing.assert_allclose(pixel2cam(pix, (1000.0, 1100.0), (500.0, 400.0)), cam)
    np.testing.assert_allclose(cam2world(cam, R, t), world)
    with pytest.raises(ValueError, match="behind the camera"):
        cam2pixel(np.array([[0.0, 0.0, -5.0]]), (1, 1), (0, 0))

# ---------------------------------------------------------------- boxes, affines, crops


@pytest.mark.parametrize("bbox, size, shape, expected", [
    # a 100 × 200 box well inside: w−1, h−1 = 99 × 199, padded to square 199 × 199, ×1.25 about its centre
    ([50, 60, 100, 200], (640, 480), (256, 256), [99.5 - 124.375, 159.5 - 124.375, 248.75, 248.75]),
    # a box sticking out on the left: clipped to x = 0 first
    ([-40, 10, 100, 50], (640, 480), (256, 256), [0 + 49.5 - 61.875, 10 + 24.5 - 61.875, 123.75, 123.75]),
    # a wide crop shape (h 256, w 192 → aspect 0.75): a 100 × 100 box becomes 99 × 132 tall, ×1.25
    ([0, 0, 100, 100], (640, 480), (256, 192), [49.5 - 61.875, 49.5 - 82.5, 123.75, 165.0]),
])
def test_process_bbox_against_hand_numbers(bbox, size, shape, expected):
    np.testing.assert_allclose(process_bbox(bbox, *size, input_shape=shape), expected)


@pytest.mark.parametrize("bbox", [[700, 10, 50, 50], [10, 10, 0, 50], [10, 500, 40, -3]])
def test_process_bbox_refuses_a_box_with_no_area_in_the_picture(bbox):
    assert process_bbox(bbox, 640, 480) is None


def affine_from_three_points(src, dst):
    """What OpenCV's getAffineTransform does: the 2 × 3 map sending three points to three points."""
    A = np.hstack([np.asarray(src, float), np.ones((3, 1))])
    return np.linalg.solve(A, np.asarray(dst, float)).T


@pytest.mark.parametrize("scale, rot", [(1.0, 0.0), (0.8, 0.0), (1.2, 30.0), (1.0, -45.0)])
def test_crop_affine_is_the_official_three_point_construction(scale, rot):
    c_x, c_y, w, h, W, H = 300.0, 250.0, 180.0, 240.0, 192.0, 256.0
    th = np.radians(rot)
    rotate = lambda v: np.array([v[0] * np.cos(th) - v[1] * np.sin(th), v[0] * np.sin(th) + v[1] * np.cos(th)])
    src = [[c_x, c_y], np.array([c_x, c_y]) + rotate([0, h * scale / 2]), np.array([c_x, c_y]) + rotate([w * scale / 2, 0])]
    dst = [[W / 2, H / 2], [W / 2, H], [W, H / 2]]
    expected = affine_from_three_points(src, dst)
    np.testing.assert_allclose(gen_trans_from_patch(c_x, c_y, w, h, W, H, scale, rot), expected, atol=1e-9)


def bilinear_numpy(img, trans, out_w, out_h):
    """Reference crop: for each crop pixel, the image point inverse(trans)·(u, v), bilinear, zeros outside."""
    inv = np.linalg.inv(np.vstack([trans, [0, 0, 1]]))
    out = np.zeros((out_h, out_w, 3))
    img = img.astype(float)
    for v in range(out_h):
        for u in range(out_w):
            x, y, _ = inv @ [u, v, 1]
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                xi, yi = x0 + dx, y0 + dy
                wgt = (1 - abs(x - xi)) * (1 - abs(y - yi))
                if 0 <= xi < img.shape[1] and 0 <= yi < img.shape[0]:
                    out[v, u] += wgt * img[yi, xi]
    return out


def test_warp_crop_samples_where_the_affine_says():
    rng = np.random.default_rng(3)
    img = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    trans = gen_trans_from_patch(40.0, 30.0, 30.0, 36.0, 20, 24, scale=1.1, rot=20.0)
    got = warp_crop(img, trans, (24, 20)).astype(float)
    ref = bilinear_numpy(img, trans, 20, 24)
    assert np.abs(got - ref).max() <= 1.0  # Pillow rounds to uint8
    # And the crop of a pure shift is the picture itself, shifted: pixel (u, v) shows image pixel (u + 7, v + 5).
    shift = np.array([[1.0, 0, -7.0], [0, 1.0, -5.0]])
    np.testing.assert_array_equal(warp_crop(img, shift, (24, 20)), img[5:29, 7:27])

# ---------------------------------------------------------------- targets


def test_targets_against_hand_numbers_and_vis_is_zero_exactly_outside():
    config = Config()  # 256 × 256 input, 64 × 64 output, depth_dim 64, 2000 mm box
    trans = np.array([[1.0, 0, 0], [0, 1.0, 0]])  # picture = crop, to read the units plainly
    joint_img = np.array([
        [128.0, 64.0, 0.0],      # centre column, root depth: x 32, y 16, z in the middle bin 32
        [0.0, 255.9, 999.0],     # corner pixels and 999 mm behind the root: still inside
        [256.0, 10.0, 0.0],      # x = 256 is outside a 256-wide crop
        [10.0, -0.1, 0.0],       # y < 0
        [10.0, 10.0, 1000.0],    # exactly 1 m behind: z = 1, outside [0, 1)
        [10.0, 10.0, -1000.0],   # exactly 1 m in front: z = 0, inside
        [10.0, 10.0, -1000.1],   # beyond
    ])
    target, vis = joints_to_target(joint_img, trans, config)
    np.testing.assert_allclose(target[0], [32.0, 16.0, 32.0])
    np.testing.assert_allclose(target[1], [0.0, 255.9 / 4, (999 / 1000 + 1) / 2 * 64], rtol=1e-6)
    np.testing.assert_allclose(target[5, 2], 0.0)
    assert vis[:, 0].tolist() == [1, 1, 0, 0, 0, 1, 0]
    assert target.dtype == np.float32 and vis.shape == (7, 1)


def test_targets_follow_depth_dim_and_crop_size():
    config = Config(input_shape=(256, 192), depth_dim=16)
    target, vis = joints_to_target(np.array([[96.0, 128.0, 500.0]]), np.array([[1.0, 0, 0], [0, 1.0, 0]]), config)
    np.testing.assert_allclose(target[0], [24.0, 32.0, 0.75 * 16])

# ---------------------------------------------------------------- a data folder written by hand


R_CAM = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # world z-up → camera y-down, looking along world +y
T_CAM = np.array([0.0, 1000.0, 4000.0])  # mm
F, C = [1150.0, 1140.0], [320.0, 240.0]


def standing_person(x_mm: float) -> np.ndarray:
    """17 × 3 world joints (mm, z up) of a person standing at world x, 1 m tall pelvis, in Human3.6M order."""
    j = np.zeros((17, 3))
    j[:, 0] = x_mm
    heights = [1000, 1000, 550, 100, 1000, 550, 100, 1250, 1500, 1600, 1700, 1450, 1200, 950, 1450, 1200, 950]
    sides = [0, -130, -130, -130, 130, 130, 130, 0, 0, 0, 0, 170, 190, 200, -170, -190, -200]
    j[:, 0] += sides
    j[:, 2] = heights
    j[9, 1] = -100  # nose forward (towards the camera, world −y)
    return j


def expected_cam(world):
    """X_cam = R·X_world + t, one joint at a time (written differently from the package)."""
    return np.array([[sum(R_CAM[r, k] * p[k] for k in range(3)) + T_CAM[r] for r in range(3)] for p in world])


def official_get_bbox(cam):
    """tool/Human36M/h36m2coco.py's get_bbox on the projected joints: the joints' extent × 1.2."""
    x, y = cam[:, 0] / cam[:, 2] * F[0] + C[0], cam[:, 1] / cam[:, 2] * F[1] + C[1]
    w, h = x.max() - x.min() - 1, y.max() - y.min() - 1
    return [(x.min() + x.max()) / 2 - w / 2 * 1.2, (y.min() + y.max()) / 2 - h / 2 * 1.2, w * 1.2, h * 1.2]


def write_fixture(root, multi=False, image_bytes=None, frames=range(3)):
    """The official layout, field names from the official Human36M.py and h36m2coco.py."""
    (root / "annotations").mkdir(parents=True)
    folder = "s_09_act_02_subact_01_ca_01"
    (root / "images" / folder).mkdir(parents=True)
    people = [standing_person(-300.0), standing_person(600.0)]
    images, annotations, joint_3d = [], [], {"2": {"1": {}}}
    for frame in frames:
        name = f"{folder}/{folder}_{frame + 1:06d}.jpg"
        path = root / "images" / name
        if image_bytes is not None and frame == 0:
            path.write_bytes(image_bytes)
        else:
            Image.new("RGB", (640, 480), (90, 120, 150)).save(path)
        image = {"id": 100 + frame, "file_name": name, "width": 640, "height": 480, "subject": 9,
                 "action_name": "Directions", "action_idx": 2, "subaction_idx": 1, "cam_idx": 1, "frame_idx": frame}
        world = people[0] + [0, 0, frame * 10.0]
        joint_3d["2"]["1"][str(frame)] = world.tolist()
        images.append(image)
        annotations.append({"id": 500 + frame, "image_id": 100 + frame, "bbox": official_get_bbox(expected_cam(world)),
                            "keypoints_vis": [True] * 17})
        if multi and frame == 0:
            image.update(f=F, c=C)
            cam = expected_cam(people[1])
            annotations.append({"id": 900, "image_id": 100, "bbox": official_get_bbox(cam),
                                "keypoints_cam": cam.tolist(),
                                "keypoints_img": (cam[:, :2] / cam[:, 2:] * F + C).tolist()})
    (root / "annotations" / "Human36M_subject9_data.json").write_text(
        json.dumps({"images": images, "annotations": annotations}))
    (root / "annotations" / "Human36M_subject9_camera.json").write_text(
        json.dumps({"1": {"R": R_CAM.tolist(), "t": T_CAM.tolist(), "f": F, "c": C}}))
    (root / "annotations" / "Human36M_subject9_joint_3d.json").write_text(json.dumps(joint_3d))
    return people


def test_reader_reads_the_official_layout(tmp_path):
    people = write_fixture(tmp_path)
    recs = load_h36m(tmp_path, "test", subjects=[9], frame_step=1)
    assert [r["ann_id"] for r in recs] == [500, 501, 502]
    for frame, rec in enumerate(recs):
        cam = expected_cam(people[0] + [0, 0, frame * 10.0])
        np.testing.assert_allclose(rec["joint_cam"][:17], cam, atol=1e-9)
        np.testing.assert_allclose(rec["joint_cam"][17], (cam[11] + cam[14]) / 2, atol=1e-9)
        np.testing.assert_allclose(rec["root_cam"], cam[0], atol=1e-9)
        np.testing.assert_allclose(rec["joint_img"][:17, 0], cam[:, 0] / cam[:, 2] * F[0] + C[0], atol=1e-9)
        np.testing.assert_allclose(rec["joint_img"][:17, 2], cam[:, 2] - cam[0, 2], atol=1e-9)
        assert rec["img_path"].endswith(f"images/s_09_act_02_subact_01_ca_01/s_09_act_02_subact_01_ca_01_"
                                        f"{frame + 1:06d}.jpg")
    # Protocol 2 puts subject 9 in the test split; the official subsampling keeps every 64th frame of it.
    assert [r["ann_id"] for r in load_h36m(tmp_path, "test", subjects=[9])] == [500]
    with pytest.raises(DataFolderError, match="Human36M_subject1_data.json"):
        load_h36m(tmp_path, "train")  # protocol 2 training subjects are not in this folder


def test_real_videos_are_subsampled_as_the_official_loader_does(tmp_path):
    """Human36M.get_subsampling_ratio: a frame is kept when its frame_idx is a multiple of 5 (train) or 64 (test);
    synthetic folders keep every frame. Frame numbers chosen so that any other step keeps another set."""
    frames = [0, 1, 5, 10, 32, 63, 64, 65, 128, 130, 192]
    write_fixture(tmp_path, frames=frames)

    def kept(split, **kwargs):  # the fixture numbers annotation ids 500 + frame_idx
        return [r["ann_id"] - 500 for r in load_h36m(tmp_path, split, subjects=[9], **kwargs)]

    assert kept("train") == [0, 5, 10, 65, 130] and kept("test") == [0, 64, 128, 192]
    assert kept("test", frame_step=1) == frames
    (tmp_path / "minipose_synth.json").write_text("{}")  # what minipose.synth leaves: every frame is a scene
    assert kept("test") == kept("train") == frames


def test_reader_uses_each_persons_own_joints_when_there_are_several(tmp_path):
    people = write_fixture(tmp_path, multi=True)
    recs = load_h36m(tmp_path, "test", subjects=[9], frame_step=1)
    assert [r["ann_id"] for r in recs] == [500, 900, 501, 502]  # nobody dropped
    np.testing.assert_allclose(recs[1]["joint_cam"][:17], expected_cam(people[1]), atol=1e-9)
    np.testing.assert_allclose(recs[0]["joint_cam"][:17], expected_cam(people[0]), atol=1e-9)


def test_round_trip_to_millimetres_without_augmentation(tmp_path):
    """picture + 3D → crop + target → back to camera millimetres, with the inverse written here: < 1 mm."""
    write_fixture(tmp_path, multi=True)
    recs = load_h36m(tmp_path, "test", subjects=[9], frame_step=1)
    data = PoseDataset(recs, train=False)
    for item, rec in zip(data, recs):
        t = item["joint_img"].double().numpy()
        x_in = t[:, 0] * cfg.input_shape[1] / cfg.output_shape[1]
        y_in = t[:, 1] * cfg.input_shape[0] / cfg.output_shape[0]
        inv = np.linalg.inv(np.vstack([item["trans"].numpy(), [0, 0, 1]]))
        px = inv[0, 0] * x_in + inv[0, 1] * y_in + inv[0, 2]
        py = inv[1, 0] * x_in + inv[1, 1] * y_in + inv[1, 2]
        Z = (t[:, 2] / cfg.depth_dim * 2 - 1) * cfg.bbox_3d_shape[0] / 2 + rec["root_cam"][2]
        back = np.stack([(px - C[0]) / F[0] * Z, (py - C[1]) / F[1] * Z, Z], axis=1)
        assert np.abs(back - rec["joint_cam"]).max() < 1.0
        assert item["joint_vis"].min() == 1  # everyone fits in their crop


def test_items_and_batches_have_the_documented_shapes(tmp_path):
    write_fixture(tmp_path, multi=True)
    data = PoseDataset(Human36M(tmp_path, "test", subjects=[9], frame_step=1), train=True)
    torch.manual_seed(0)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert batch["img"].shape == (4, 3, 256, 256) and batch["img"].dtype == torch.float32
    assert batch["joint_img"].shape == (4, 18, 3) and batch["joint_vis"].shape == (4, 18, 1)
    assert batch["have_depth"].shape == (4, 1) and batch["trans"].shape == (4, 2, 3)


def test_pixel_range_switch_against_hand_numbers(tmp_path):
    write_fixture(tmp_path)
    recs = load_h36m(tmp_path, "test", subjects=[9], frame_step=1)[:1]
    (r, g, b) = np.asarray(Image.open(recs[0]["img_path"]))[240, 320].astype(float)  # flat (90, 120, 150) after JPEG
    centre = lambda item: item["img"][:, 128, 128].double().numpy()
    np.testing.assert_allclose(centre(PoseDataset(recs)[0]),
                               [(r / 255 - 0.485) / 0.229, (g / 255 - 0.456) / 0.224, (b / 255 - 0.406) / 0.225],
                               atol=1e-5)
    np.testing.assert_allclose(centre(PoseDataset(recs, pixel_range=255)[0]),
                               [(r - 0.485) / 0.229, (g - 0.456) / 0.224, (b - 0.406) / 0.225], rtol=1e-5)
    with pytest.raises(ValueError, match="pixel_range"):
        PoseDataset(recs, pixel_range=100)


def test_a_flipped_crop_mirrors_the_targets_and_swaps_the_names(tmp_path):
    write_fixture(tmp_path)
    rec = load_h36m(tmp_path, "test", subjects=[9], frame_step=1)[0]
    plain, _ = joints_to_target(rec["joint_img"], crop_affine(rec["bbox"], 640), cfg)
    flipped, _ = joints_to_target(swap_left_right(rec["joint_img"]), crop_affine(rec["bbox"], 640, do_flip=True), cfg)
    # In crop pixels the mirror is x ↦ 256 − x (about the crop's centre 128); on the 64-wide grid, 64 − x.
    for right, left in FLIP_PAIRS:
        np.testing.assert_allclose(flipped[left, 0], 64 - plain[right, 0], atol=1e-4)
        np.testing.assert_allclose(flipped[left, 1:], plain[right, 1:], atol=1e-4)
    np.testing.assert_allclose(flipped[0], [64 - plain[0, 0], plain[0, 1], plain[0, 2]], atol=1e-4)


def test_augmentation_follows_the_official_distributions():
    rng = np.random.default_rng(0)
    draws = [get_aug_config(rng) for _ in range(4000)]
    scale = np.array([d["scale"] for d in draws])
    rot = np.array([d["rot"] for d in draws])
    color = np.array([d["color_scale"] for d in draws])
    # A standard normal clipped to ±1 has variance P(|X|<1) − 2φ(1) + P(|X|>1) = 0.6827 − 0.4839 + 0.3173.
    assert scale.min() >= 0.75 and scale.max() <= 1.25 and abs(scale.std() - 0.25 * 0.5161 ** 0.5) < 0.005
    assert abs((rot != 0).mean() - 0.6) < 0.03 and np.abs(rot).max() <= 60
    assert abs(np.mean([d["do_flip"] for d in draws]) - 0.5) < 0.03
    assert color.min() >= 0.8 and color.max() <= 1.2 and abs(color.mean() - 1.0) < 0.01

# ---------------------------------------------------------------- bad input


def test_missing_camera_file_is_named(tmp_path):
    write_fixture(tmp_path)
    (tmp_path / "annotations" / "Human36M_subject9_camera.json").unlink()
    with pytest.raises(DataFolderError, match=r"missing file .*Human36M_subject9_camera\.json"):
        load_h36m(tmp_path, "test", subjects=[9])


def edit_data_file(root, change):
    """Apply change(data) to the fixture's Human36M_subject9_data.json."""
    path = root / "annotations" / "Human36M_subject9_data.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_missing_field_is_named(tmp_path):
    write_fixture(tmp_path)
    edit_data_file(tmp_path, lambda data: data["images"][1].pop("cam_idx"))
    with pytest.raises(DataFolderError, match=r"Human36M_subject9_data\.json: image \(id 101\) lacks field\(s\) cam_idx"):
        load_h36m(tmp_path, "test", subjects=[9])


def test_box_outside_the_picture_is_named(tmp_path):
    write_fixture(tmp_path)
    edit_data_file(tmp_path, lambda data: data["annotations"][0].update(bbox=[700.0, 10.0, 50.0, 50.0]))
    with pytest.raises(DataFolderError, match=r"annotation 500 \(image s_09_act_02.*_000001\.jpg\) has box .*no area"):
        load_h36m(tmp_path, "test", subjects=[9])


def test_missing_folder_and_frame_are_named(tmp_path):
    with pytest.raises(DataFolderError, match="does not exist.*minipose.synth"):
        load_h36m(tmp_path / "nowhere")
    write_fixture(tmp_path)
    path = tmp_path / "annotations" / "Human36M_subject9_joint_3d.json"
    path.write_text(json.dumps({"2": {"1": {"0": [[0, 0, 0]] * 17}}}))
    with pytest.raises(DataFolderError, match="no joints for action 2, subaction 1, frame 1"):
        load_h36m(tmp_path, "test", subjects=[9], frame_step=1)


def test_image_that_does_not_decode_is_named(tmp_path):
    write_fixture(tmp_path, image_bytes=b"\xff\xd8 not really a jpeg")
    data = PoseDataset(load_h36m(tmp_path, "test", subjects=[9], frame_step=1))
    with pytest.raises(OSError, match=r"s_09_act_02_subact_01_ca_01_000001\.jpg does not decode"):
        data[0]
    assert data[1]["img"].shape == (3, 256, 256)  # the others still load


def test_augmented_targets_lead_back_to_the_right_joints(tmp_path):
    """With scale, rotation and flips drawn at random, undoing each item's own affine puts every target back on the
    picture position of the joint it is named after (a flipped crop's L_Wrist is the picture's R_Wrist)."""
    write_fixture(tmp_path, multi=True)
    recs = load_h36m(tmp_path, "test", subjects=[9], frame_step=1)
    data = PoseDataset(recs, train=True, occlusion=False)
    torch.manual_seed(3)
    flips = 0
    for _ in range(5):
        for i, rec in enumerate(recs):
            item = data[i]
            t = item["joint_img"].double().numpy() * 4  # crop pixels (256 / 64)
            inv = np.linalg.inv(np.vstack([item["trans"].numpy(), [0, 0, 1]]))
            picture = t[:, :2] @ inv[:2, :2].T + inv[:2, 2]
            expected = rec["joint_img"][:, :2]
            if item["do_flip"]:
                flips += 1
                expected = swap_left_right(expected)
            np.testing.assert_allclose(picture, expected, atol=1e-3)
            np.testing.assert_allclose(t[:, 2] / 4, (rec["joint_img"][:, 2] / 1000 + 1) / 2 * 64, atol=1e-4)
    assert 3 <= flips <= 17  # both kinds were tried


@pytest.mark.parametrize("protocol", [1, 2])
def test_round_trip_on_the_synthetic_sample(protocol):
    """Every person of every shipped synthetic scene (both splits): world → camera → pixel → crop → target → back to
    camera millimetres, with the inverse written here, within 1 mm."""
    sample = ROOT_DIR / "data" / "synth_sample"
    recs = load_h36m(sample, "train", protocol) + load_h36m(sample, "test", protocol)
    assert len(recs) == 88  # every annotated person, none dropped
    data = PoseDataset(recs, train=False)
    worst = 0.0
    for i in range(len(recs)):
        item, rec = data[i], recs[i]
        t = item["joint_img"].double().numpy()
        inv = np.linalg.inv(np.vstack([item["trans"].numpy(), [0, 0, 1]]))
        px = t[:, :2] * 4 @ inv[:2, :2].T + inv[:2, 2]
        Z = (t[:, 2] / 64 * 2 - 1) * 1000 + rec["root_cam"][2]
        back = np.stack([(px[:, 0] - rec["c"][0]) / rec["f"][0] * Z, (px[:, 1] - rec["c"][1]) / rec["f"][1] * Z, Z], 1)
        worst = max(worst, np.abs(back - rec["joint_cam"]).max())
    assert worst < 1.0

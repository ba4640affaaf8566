"""python -m minipose.bench: its --quick run (CI's), and that its reference is the same network as minipose's."""
from __future__ import annotations

import json
import subprocess
import sys

import torch

from conftest import ROOT
from minipose import Config, bench, get_pose_net
from minipose.integral import soft_argmax


def test_quick_run_writes_the_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "minipose.bench", "--quick", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    first = run.stdout.splitlines()[0]
    assert f"torch {torch.__version__}" in first and "device: cpu" in first and "threads" in first
    assert result["torch"] == torch.__version__ and result["threads"] == torch.get_num_threads()
    rows = {(r["case"], r["variant"]): r for r in result["rows"]}
    assert set(rows) == {(case, v) for case, (_, variants) in bench.CASES.items() for v in variants}
    for case, (_, variants) in bench.CASES.items():
        assert rows[case, variants[0]]["speedup"] == 1.0  # ratios are against the first (reference) variant
        assert all(rows[case, v]["seconds"] > 0 for v in variants)
    assert all(rows["inference", v]["peak_mb"] is not None for v in ("reference", "default", "fast"))
    assert result["matmul_tflops"] > 0 and "fraction_of_matmul_rate" in rows["inference", "fast"]
    assert not out.with_name("bench.json.tmp").exists()


def _as_reference(state: dict) -> dict:
    """minipose's state_dict under the reference's names (torchvision's children as nn.Sequential indices)."""
    stem = {"backbone.conv1.": "backbone.0.", "backbone.bn1.": "backbone.1."}
    stem.update({f"backbone.layer{k}.": f"backbone.{k + 3}." for k in range(1, 5)})
    stem.update({f"head.deconv_layers.{k}.": f"head.{k}." for k in range(9)})
    stem["head.final_layer."] = "head.9."
    renamed = {}
    for name, value in state.items():
        prefix = next(p for p in stem if name.startswith(p))
        renamed[stem[prefix] + name[len(prefix):]] = value
    return renamed


def test_the_reference_is_the_same_network():
    """The comparison is fair: minipose's weights load strictly into the torchvision-made reference and give the same
    output, so both do the same arithmetic (ResNet-50 at a small input, eval and train mode)."""
    config = Config(resnet_type=50, input_shape=(64, 64), depth_dim=8)
    torch.manual_seed(0)
    ours = get_pose_net(config, is_train=False, joint_num=18)
    ours.head.init_weights()
    ref = bench.ReferencePoseNet(config)
    ref.load_state_dict(_as_reference(ours.state_dict()), strict=True)
    img = torch.randn(2, 3, 64, 64)
    for train in (False, True):
        ours.train(train), ref.train(train)
        with torch.no_grad():
            assert torch.allclose(ref(img), ours(img), atol=1e-5)
    h = torch.randn(2, 18 * 8, 16, 16)
    assert torch.allclose(bench.reference_soft_argmax(h, 18, 8), soft_argmax(h, 18, 8), atol=1e-5)


def test_suite_reports_each_command_against_its_budget(monkeypatch):
    calls = []

    def fake_run(cmd, cwd):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1 if "lessons/" in cmd else 0)

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    lines = []
    result = bench.suite(log=lines.append)
    assert [c[3:] for c in calls] == [["-q", "--nbval", "lessons/"], ["-q"]]
    assert result["pytest --nbval lessons/"]["budget_s"] == 300 and not result["pytest --nbval lessons/"]["passed"]
    assert result["pytest (everything)"]["budget_s"] == 720  # 12 minutes on the 2-core course machine
    assert result["pytest (everything)"]["passed"] and "FAILED" in lines[0] and "FAILED" not in lines[1]

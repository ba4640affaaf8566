# Written directly, not generated: tools/gather.py leaves this module alone. Lessons 14 and 15 show its key parts.
"""Speed and memory of PoseNet, side by side with a reference, in one run: `python -m minipose.bench`.

    python -m minipose.bench                  # the full table (about 10 minutes on 2 CPU cores)
    python -m minipose.bench --quick          # seconds: tiny sizes, every code path (CI runs it)
    python -m minipose.bench --json out.json  # the table as JSON too
    python -m minipose.bench --suite          # also time `pytest --nbval lessons/` and the whole `pytest`

The reference is the same architecture made from torchvision's ResNet and a plainly written head and soft-argmax,
run as most code runs it (NCHW, `torch.no_grad()` for inference). minipose runs twice: as built ("default") and
through its fast path ("fast": `optimize_for_inference` for inference, `fast_pose_net` for training).
Every variant runs in the same process, in turns (warm-up first), so a busy machine slows all of them alike; the
table gives medians. Peak memory is measured in a fresh process per variant: how far one call raises memory above
what the process held just before it (network and inputs made), from Linux's /proc (VmHWM after resetting it) or
`torch.cuda.max_memory_allocated` on a GPU; elsewhere the column is left out.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torchvision
from torch import nn

from minipose.config import Config, pick_device
from minipose.fast import fast_pose_net, optimize_for_inference, soft_argmax_fast
from minipose.integral import soft_argmax
from minipose.posenet import get_pose_net
from minipose.skeleton import JOINT_NUM
from minipose.train import preset_config

ROOT = Path(__file__).resolve().parent.parent

# name -> the Config it measures: the paper's (ResNet-50, 256 x 256, batch 32), minipose.train's cpu preset, and a
# tiny one that takes seconds (CI runs it).
SIZES = {
    "paper": Config(),
    "cpu": preset_config("cpu"),
    "quick": dataclasses.replace(preset_config("cpu"), depth_dim=8, batch_size=2),
}


# ---------------------------------------------------------------- the reference: torchvision + a plain head
def reference_soft_argmax(heatmaps: torch.Tensor, joint_num: int, depth_dim: int) -> torch.Tensor:
    """Softmax over each joint's volume, then the expected index along each axis, written plainly."""
    b, _, h, w = heatmaps.shape
    p = heatmaps.reshape(b, joint_num, -1).softmax(dim=2).reshape(b, joint_num, depth_dim, h, w)
    x = (p.sum(dim=(2, 3)) * torch.arange(w, device=p.device)).sum(dim=2)
    y = (p.sum(dim=(2, 4)) * torch.arange(h, device=p.device)).sum(dim=2)
    z = (p.sum(dim=(3, 4)) * torch.arange(depth_dim, device=p.device)).sum(dim=2)
    return torch.stack((x, y, z), dim=2)


class ReferencePoseNet(nn.Module):
    """torchvision's ResNet without its pooling and classifier, three deconvolutions, a 1x1 conv, soft-argmax."""

    def __init__(self, config: Config, joint_num: int = JOINT_NUM) -> None:
        super().__init__()
        resnet = getattr(torchvision.models, f"resnet{config.resnet_type}")(weights=None)
        self.backbone = nn.Sequential(*list(resnet.children())[:-2])
        channels = resnet.fc.in_features
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [nn.ConvTranspose2d(channels, 256, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(256),
                       nn.ReLU(inplace=True)]
            channels = 256
        self.head = nn.Sequential(*layers, nn.Conv2d(256, joint_num * config.depth_dim, 1))
        self.joint_num, self.depth_dim = joint_num, config.depth_dim

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return reference_soft_argmax(self.head(self.backbone(img)), self.joint_num, self.depth_dim)


# ---------------------------------------------------------------- what is timed
def build(variant: str, config: Config, device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    if variant == "reference":
        return ReferencePoseNet(config).to(device)
    net = get_pose_net(config, is_train=False, joint_num=JOINT_NUM).to(device)
    if variant == "fast":
        return fast_pose_net(net)
    return net


def inference_step(variant: str, config: Config, device: torch.device):
    net = build(variant, config, device).eval()
    img = torch.randn(config.batch_size, 3, *config.input_shape, device=device)
    if variant == "fast":
        fast = optimize_for_inference(net)  # inference mode, channels-last, folded BatchNorm (+ bf16, compile on CUDA)
        del net  # a user keeps only the fast copy: net = optimize_for_inference(net)
        return lambda: fast(img)

    def step():
        with torch.no_grad():
            return net(img)
    return step


def training_step(variant: str, config: Config, device: torch.device):
    net = build(variant, config, device).train()
    img = torch.randn(config.batch_size, 3, *config.input_shape, device=device)
    target = torch.rand(config.batch_size, JOINT_NUM, 3, device=device) * config.output_shape[0]
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-5)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = (net(img) - target).abs().mean()  # the same loss for every variant
        loss.backward()
        optimizer.step()
    return step


def soft_argmax_step(variant: str, config: Config, device: torch.device, backward: bool):
    """A head output of the given size through one of: a bare softmax, lesson 05's soft_argmax, soft_argmax_fast."""
    torch.manual_seed(0)
    b, (h, w), d = config.batch_size, config.output_shape, config.depth_dim
    heatmaps = torch.randn(b, JOINT_NUM * d, h, w, device=device, requires_grad=backward)
    if variant == "softmax":
        fn = lambda t: t.reshape(b, JOINT_NUM, -1).softmax(dim=2)
    else:
        fn = {"soft_argmax": soft_argmax, "fast": soft_argmax_fast}[variant]
        fn = (lambda f: lambda t: f(t, JOINT_NUM, d))(fn)
    with torch.no_grad():  # the gradient that comes back, made once: a volume for the softmax, B x J x 3 otherwise
        grad_out = torch.ones_like(fn(heatmaps)) if backward else None

    def step():
        out = fn(heatmaps)
        if backward:
            out.backward(grad_out)
            heatmaps.grad = None
        return out
    return step


CASES = {  # case -> (builder of one call, its variants; the first is what the others are compared with)
    "inference": (inference_step, ("reference", "default", "fast")),
    "training step": (training_step, ("reference", "default", "fast")),
    "soft-argmax forward": (lambda v, c, d: soft_argmax_step(v, c, d, False), ("softmax", "soft_argmax", "fast")),
    "soft-argmax fwd+bwd": (lambda v, c, d: soft_argmax_step(v, c, d, True), ("softmax", "soft_argmax", "fast")),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def time_variants(steps: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds per call of each step, timed in turns: warm-up of all, then `repeats` rounds."""
    for step in steps.values():
        step()  # warm-up: allocations, oneDNN's kernel choice, torch.compile
        sync(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)  # GPUs run asynchronously: wait for the work, not just its launch
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# ---------------------------------------------------------------- peak memory, one fresh process per variant
def peak_memory_here(case: str, variant: str, size: str) -> float:
    """MB: how far memory rises above its level before one call (the network and inputs already made): CPU resident
    memory, or allocated memory on a GPU. Run in a fresh process, so earlier calls leave nothing behind."""
    device = pick_device()
    config = SIZES[size]
    step = CASES[case][0](variant, config, device)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        sync(device)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    _reset_peak_rss()
    before = _rss_mb("VmRSS")
    step()
    return _rss_mb("VmHWM") - before


def _reset_peak_rss() -> None:
    """Linux: start the peak (VmHWM) afresh at the current resident memory (`man 5 proc`, clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, MB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**10  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory(case: str, variant: str, size: str) -> float:
    """peak_memory_here in a fresh process (None where it cannot be measured: no /proc, as on macOS and Windows)."""
    if pick_device().type != "cuda" and not Path("/proc/self/clear_refs").exists():
        return None
    out = subprocess.run([sys.executable, "-m", "minipose.bench", "--peak-memory", case, variant, size],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def quiet_stderr():
    """Silence what C++ code writes to stderr (file descriptor 2) inside the block, e.g. the profiler's engine,
    Kineto, which logs its start and stop on some builds. Python's own errors still surface as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# ---------------------------------------------------------------- the machine
def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 5) -> float:
    """TFLOP/s of one n x n x n matrix product: what the machine's cores do at their best."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    step = lambda: a @ b
    seconds = time_variants({"mm": step}, repeats, device)["mm"]
    return 2 * n**3 / seconds / 1e12


def forward_flops(config: Config) -> float:
    """FLOPs of one image through PoseNet (a multiply-add counts 2), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode
    with torch.device("meta"):
        net = get_pose_net(config, is_train=False, joint_num=JOINT_NUM).eval()
        img = torch.empty(1, 3, *config.input_shape)
        counter = FlopCounterMode(display=False)
        with counter:
            net(img)
    return float(counter.get_total_flops())


def header(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    return (f"minipose.bench  {time.strftime('%Y-%m-%d')}  device: {device.type}, {name}  torch {torch.__version__}  "
            f"torchvision {torchvision.__version__}  threads {torch.get_num_threads()}")


def run(sizes: list[str], repeats: int, memory: bool, log=print) -> dict:
    device = pick_device()
    result = {"header": header(device), "device": device.type, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"), "rows": []}
    log(result["header"])
    n = 512 if "quick" in sizes else (8192 if device.type == "cuda" else 2048)
    rate = matmul_rate(device, n=n)
    result["matmul_tflops"] = rate
    log(f"matrix product (float32): {rate * 1000:.0f} GFLOP/s")
    fast_rate = rate  # the fast path's precision: bfloat16 on CUDA (where optimize_for_inference turns it on)
    if device.type == "cuda":
        fast_rate = result["matmul_tflops_bf16"] = matmul_rate(device, torch.bfloat16, n=n)
        log(f"matrix product (bfloat16): {fast_rate * 1000:.0f} GFLOP/s; the fast inference runs in bfloat16, "
            "the others in float32 (TF32 where PyTorch allows it)")
    for size in sizes:
        config = SIZES[size]
        flops = forward_flops(config)
        log(f"\n{size}: ResNet-{config.resnet_type}, {config.input_shape[0]}x{config.input_shape[1]}, batch "
            f"{config.batch_size}, depth_dim {config.depth_dim}; {flops / 1e9:.1f} GFLOP per image forward")
        log(f"{'case':<21}{'variant':<13}{'ms/call':>10}{'images/s':>10}{'x ref':>7}{'peak MB':>9}{'x ref':>7}")
        for case, (builder, variants) in CASES.items():
            steps = {v: builder(v, config, device) for v in variants}
            seconds = time_variants(steps, repeats, device)
            del steps
            # --quick measures one case's memory: each variant costs a fresh process
            measure = memory and (size != "quick" or case == "inference")
            peaks = {v: peak_memory(case, v, size) for v in variants} if measure else {}
            if None in peaks.values():
                peaks = {}
            ref = variants[0]
            for v in variants:
                row = dict(size=size, case=case, variant=v, seconds=seconds[v],
                           images_per_s=config.batch_size / seconds[v], speedup=seconds[ref] / seconds[v],
                           peak_mb=peaks.get(v), peak_ratio=(peaks[v] / peaks[ref]) if peaks and peaks[ref] > 0 else None)
                if case == "inference":
                    peak = fast_rate if v == "fast" else rate  # against the rate of the precision it runs in
                    row["fraction_of_matmul_rate"] = flops * row["images_per_s"] / (peak * 1e12)
                result["rows"].append(row)
                mem = f"{row['peak_mb']:9.0f}" + (f"{row['peak_ratio']:7.2f}" if row["peak_ratio"] else "      -") if peaks else ""
                log(f"{case:<21}{v:<13}{seconds[v] * 1000:10.1f}{row['images_per_s']:10.1f}{row['speedup']:7.2f}{mem}")
    return result


def suite(log=print) -> dict:
    """Wall time of the two test commands of README, against their budgets."""
    out = {}
    for name, cmd, budget in [("pytest --nbval lessons/", ["--nbval", "lessons/"], 300),
                              ("pytest (everything)", [], 720)]:
        start = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", "pytest", "-q", *cmd], cwd=ROOT).returncode
        seconds = time.perf_counter() - start
        out[name] = dict(seconds=seconds, budget_s=budget, passed=code == 0)
        log(f"{name:<26} {seconds:7.0f} s  (budget {budget} s){'' if code == 0 else '  FAILED'}")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minipose.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: seconds (CI runs this)")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), help="default: paper cpu")
    parser.add_argument("--repeats", type=int, help="timed rounds per variant (default 5, 2 with --quick)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--suite", action="store_true", help="also time the lessons' and the tests' pytest runs")
    parser.add_argument("--peak-memory", nargs=3, metavar=("CASE", "VARIANT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_memory:
        print(peak_memory_here(*args.peak_memory))
        return
    sizes = args.sizes or (["quick"] if args.quick else ["paper", "cpu"])
    result = run(sizes, args.repeats or (2 if args.quick else 5), memory=not args.no_memory)
    if args.suite:
        result["suite"] = suite()
    if args.json:
        path = Path(args.json)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(path)  # atomic: a reader never sees half a file


if __name__ == "__main__":
    main()

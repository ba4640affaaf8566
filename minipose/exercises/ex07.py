"""Exercises of lesson 07, checkpoints and the official release (written directly, not generated)."""
from __future__ import annotations

import os
import tempfile
import warnings
from collections import OrderedDict

import torch
from torch import nn

from minipose.checkpoint import load_checkpoint
from minipose.exercises import Exercise, Mistake, Question, call

_NETWORK_ALIASES = ("state_dict", "model", "model_state_dict", "state_dict_model", "net", "network_state_dict",
                    "weights", "params")
_OPTIMIZER_ALIASES = ("optimizer_state_dict", "optim", "opt", "optimizer_state", "optimiser")


def _small_trained_model() -> tuple[nn.Module, torch.optim.Optimizer]:
    """A tiny network with BatchNorm (so it has buffers), after one Adam step (so the optimizer has state)."""
    torch.manual_seed(71)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 6, 5)).square().mean().backward()
    optimizer.step()
    return model, optimizer


def _same_optimizer_state(a: dict, b: dict) -> bool:
    if set(a["state"]) != set(b["state"]) or len(a["param_groups"]) != len(b["param_groups"]):
        return False
    for key in a["state"]:
        for name, value in a["state"][key].items():
            other = b["state"][key].get(name)
            if not isinstance(other, torch.Tensor) or not torch.equal(value.cpu(), other.cpu()):
                return False
    return all(x["lr"] == y["lr"] for x, y in zip(a["param_groups"], b["param_groups"]))


def _quiet_load(path: str, weights_only: bool):
    """torch.load without warnings, so the verdict does not depend on the warning filters (pytest's are errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=weights_only)


def _unpickled_objects(path: str) -> str | None:
    """What a file that weights_only=True refuses holds: a sentence, or None if we cannot tell."""
    try:  # our own temporary file, written by the student's function a moment ago
        obj = _quiet_load(path, weights_only=False)
    except Exception:  # noqa: BLE001 - not a torch file at all
        return None
    if isinstance(obj, nn.Module):
        return ("you saved the whole model object (torch.save(model, path)); minipose.load_checkpoint reads with "
                "weights_only=True and refuses pickled modules, because unpickling can run any code. Save "
                "model.state_dict() inside the dictionary")
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, nn.Module):
                return (f"{key!r} holds the model object itself; weights_only=True loading refuses pickled "
                        "modules. Save model.state_dict() there")
            if isinstance(value, torch.optim.Optimizer):
                return (f"{key!r} holds the optimizer object itself; weights_only=True loading refuses it. Save "
                        "optimizer.state_dict() there")
    return None


def _check_save_checkpoint(fn) -> str:
    model, optimizer = _small_trained_model()
    wanted = model.state_dict()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "snapshot_7.pth.tar")
        call(fn, path, model, optimizer, 7)
        if not os.path.exists(path):
            others = sorted(os.listdir(folder))
            if others:
                raise Mistake(f"nothing was written at the path you were given; you wrote {', '.join(others)} in its "
                              "folder instead. Save to `path` itself")
            raise Mistake("nothing was written at the path you were given: torch.save(checkpoint, path)")
        try:
            checkpoint = _quiet_load(path, weights_only=True)
        except Exception as err:  # noqa: BLE001 - explained below
            reason = _unpickled_objects(path)
            raise Mistake(reason or f"torch.load(path, weights_only=True) cannot read your file "
                                    f"({type(err).__name__}): write it with torch.save, a dict of tensors and "
                                    "numbers") \
                from None
        if not isinstance(checkpoint, dict):
            raise Mistake(f"your file holds a {type(checkpoint).__name__}; save a dictionary "
                          "{'epoch': ..., 'network': ..., 'optimizer': ...}")
        if set(checkpoint) == set(wanted) and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            raise Mistake("you saved the bare model.state_dict(): the epoch and the optimizer's state are lost. Save "
                          "the dictionary {'epoch': epoch, 'network': model.state_dict(), 'optimizer': "
                          "optimizer.state_dict()}")
        if "network" not in checkpoint:
            alias = next((k for k in checkpoint if k in _NETWORK_ALIASES), None)
            if alias:
                raise Mistake(f"the weights are under {alias!r}; the official format, and load_checkpoint, call "
                              "that entry 'network'")
            raise Mistake(f"no 'network' entry (your keys: {sorted(map(str, checkpoint))}); the weights go under "
                          "'network': model.state_dict()")
        network = checkpoint["network"]
        if not isinstance(network, dict):
            raise Mistake(f"'network' holds a {type(network).__name__}; it must be model.state_dict()")
        missing = [k for k in wanted if k not in network and "module." + k not in network]
        if missing and all(k.split(".")[-1] in ("running_mean", "running_var", "num_batches_tracked") for k in missing):
            raise Mistake("the BatchNorm running statistics (running_mean, running_var, num_batches_tracked) are "
                          "missing: parameters() and named_parameters() leave out buffers; model.state_dict() has both")
        if missing:
            raise Mistake(f"'network' lacks {len(missing)} of the model's tensors, e.g. {missing[0]}; save "
                          "model.state_dict()")
        if "optimizer" not in checkpoint:
            alias = next((k for k in checkpoint if k in _OPTIMIZER_ALIASES), None)
            if alias:
                raise Mistake(f"the optimizer state is under {alias!r}; the official format, and load_checkpoint, "
                              "call that entry 'optimizer'")
            raise Mistake("no 'optimizer' entry: resuming would restart Adam's running averages from zero and "
                          "training would jump. Save 'optimizer': optimizer.state_dict()")
        saved_opt = checkpoint["optimizer"]
        if not (isinstance(saved_opt, dict) and "state" in saved_opt and "param_groups" in saved_opt):
            raise Mistake("'optimizer' must be the whole optimizer.state_dict() (a dict with 'state' and "
                          f"'param_groups'); yours is {type(saved_opt).__name__} {str(saved_opt)[:40]}")
        if "epoch" not in checkpoint:
            raise Mistake("no 'epoch' entry: load_checkpoint would report epoch 0, and the official trainer resumes "
                          "at checkpoint['epoch'] + 1. Save 'epoch': epoch")
        epoch = checkpoint["epoch"]
        if isinstance(epoch, torch.Tensor) or not isinstance(epoch, int) or epoch != 7:
            raise Mistake(f"'epoch' holds {epoch!r:.40}; save the epoch you were given (here 7), a plain int")

        fresh = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
        fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-3)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the same verdict whatever the warning filters
                loaded_epoch = load_checkpoint(path, fresh, fresh_opt)
        except Exception as err:  # noqa: BLE001 - the student's file, reported as such
            raise Mistake(f"minipose.load_checkpoint refuses your file: {str(err).replace(folder, '<folder>')}") \
                from None
    if not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), wanted.values())):
        raise Mistake("the weights in your file are not the model's: save model.state_dict() as it is when you save")
    if not _same_optimizer_state(fresh_opt.state_dict(), optimizer.state_dict()):
        raise Mistake("the optimizer state in your file is not the optimizer's: save optimizer.state_dict()")
    if loaded_epoch != 7:
        raise Mistake(f"load_checkpoint reads epoch {loaded_epoch} from your file instead of 7")
    return ("minipose.load_checkpoint (weights_only=True) reads your file back: weights and BatchNorm statistics, "
            "Adam's state and the epoch are all there, under the official names.")


q1 = Exercise(
    "07.1", "save a checkpoint in the official format", "my_save_checkpoint", _check_save_checkpoint,
    refuses=("minipose.checkpoint.save_checkpoint", "minipose.checkpoint.atomic_save"),
    hints=[
        "One dictionary with three entries, the names the official main/train.py uses: 'epoch', 'network' and "
        "'optimizer'.",
        "torch.save({'epoch': epoch, 'network': model.state_dict(), 'optimizer': optimizer.state_dict()}, path). "
        "State dicts hold only tensors and numbers, so weights_only=True can read them.",
    ],
)


# --- 07.2: DataParallel's prefix ---------------------------------------------------------------------------------

def _state(keys: list[str]) -> OrderedDict:
    """A state dict with these keys and small distinct tensors, in this order (as model.state_dict() gives)."""
    return OrderedDict((k, torch.full((2,), float(i))) for i, k in enumerate(keys))


_POSENET_KEYS = ["backbone.conv1.weight", "backbone.bn1.running_mean", "backbone.layer1.0.conv1.weight",
                 "head.deconv_layers.0.weight", "head.final_layer.weight", "head.final_layer.bias"]
_CASES = [  # what DataParallel(model).state_dict() gives, for three models; then a model that was never wrapped
    ("a DataParallel-wrapped ResPoseNet", ["module." + k for k in _POSENET_KEYS]),
    ("a DataParallel-wrapped backbone (lesson 03)",
     ["module.conv1.weight", "module.bn1.weight", "module.layer1.0.conv1.weight", "module.layer4.1.bn2.bias"]),
    ("a DataParallel-wrapped head (lesson 04)",
     ["module.deconv_layers.0.weight", "module.deconv_layers.1.running_var", "module.final_layer.weight"]),
    ("a wrapped model with a part named 'submodule'",
     ["module.backbone.submodule.weight", "module.head.module.final_layer.weight", "module.embedding.weight"]),
    ("a state dict without the prefix", list(_POSENET_KEYS)),
    ("an empty state dict", []),
]


def _check_strip_module_prefix(fn) -> str:
    for name, keys in _CASES:
        given = _state(keys)
        kept = OrderedDict(given)
        out = call(fn, given)
        if list(given) != list(kept) or any(given[k] is not kept[k] for k in kept):
            raise Mistake("your function renamed the keys of the dictionary it was given; build and return a new "
                          "one, so the caller's checkpoint stays as it was")
        if not isinstance(out, dict):
            raise Mistake(f"return a dict (key -> tensor), as model.load_state_dict expects; you returned a "
                          f"{type(out).__name__}")
        want = [k[len("module."):] for k in keys] if keys and all(k.startswith("module.") for k in keys) else keys
        got = list(out)
        if sorted(map(str, got)) == sorted(want) and got != want:
            raise Mistake("the keys are right but their order is not: keep the state dict's order (a dict "
                          "comprehension over state_dict.items() does)")
        if got != want:
            wrong = [(w, g) for w, g in zip(want, got) if w != g] or [(want, got)]
            expected, found = wrong[0]
            if name == "a state dict without the prefix":
                raise Mistake(f"a state dict without 'module.' must come back unchanged; you turned {expected!r} into "
                              f"{found!r}. Check k.startswith('module.') first")
            if isinstance(found, str) and found == expected.lstrip("module."):
                raise Mistake(f"for {name}, you turned 'module.{expected}' into {found!r}: str.lstrip('module.') "
                              "strips any of the characters m, o, d, u, l, e and '.', not the word. Use "
                              "k[len('module.'):] or k.removeprefix('module.')")
            if isinstance(found, str) and found == ("module." + expected).replace("module.", ""):
                raise Mistake(f"for {name}, you turned 'module.{expected}' into {found!r}: replace() removes "
                              "'module.' everywhere in the key; only the leading one is DataParallel's")
            raise Mistake(f"for {name}, expected the key {expected!r}, got {found!r}")
        for key, value in out.items():
            original = given["module." + key] if "module." + key in given else given[key]
            if value is original:
                continue
            if isinstance(value, torch.Tensor) and value.data_ptr() == original.data_ptr():
                continue  # a view of the same memory (e.g. .detach()) is fine
            if isinstance(value, torch.Tensor) and value.dtype == original.dtype and torch.equal(value, original):
                raise Mistake("the values are copies (.clone()): return the same tensors under the new names; a "
                              "copy doubles the memory of a 137 MB checkpoint for nothing")
            raise Mistake(f"the tensor under {key!r} is not the one you were given: change the keys only")
    return ("Strips DataParallel's 'module.' from a wrapped ResPoseNet, backbone and head (including keys that "
            "contain 'module.' further on), keeps the order and the very same tensors, and leaves an unwrapped "
            "state dict alone.")


q2 = Exercise(
    "07.2", "remove DataParallel's prefix", "my_strip_module_prefix", _check_strip_module_prefix,
    refuses=("minipose.checkpoint.strip_module_prefix", "minipose.checkpoint.load_checkpoint"),
    hints=[
        "A state dict is an ordered dict: build a new one with a dict comprehension over state_dict.items(), "
        "changing only the keys.",
        "Only the *leading* 'module.' goes: k[len('module.'):] when k.startswith('module.'), or "
        "k.removeprefix('module.'). Strip only if every key has it, as minipose.checkpoint.strip_module_prefix does.",
    ],
)


# --- questions -------------------------------------------------------------------------------------------------

q3 = Question(
    "07.3", "why compare before loading?",
    hints=["Try model.load_state_dict on a 21-joint checkpoint and read its error; then try strict=False."],
    answer="load_state_dict does refuse a mismatch, but its message lists every missing and unexpected key and every "
           "size mismatch (for a ResNet-50 checkpoint in a ResNet-18 model, hundreds of names) and never says why. "
           "explain_mismatch counts the differences, shows a few, and names the likely cause in get_pose_net's own "
           "words: 'build the model with joint_num=21' or 'cfg.resnet_type=50'. Comparing first also means the model is never left "
           "half-loaded (load_state_dict copies the tensors that fit before it raises), and the check cannot be "
           "switched off by someone who 'fixes' the error with strict=False, which skips missing and unexpected keys "
           "silently and leaves those weights random.",
)

q4 = Question(
    "07.4", "a whole pickled model",
    hints=["Exercise 07.1's check shows what load_checkpoint says about such a file. What does unpickling a module "
           "need, besides the weights?"],
    answer="torch.save(model, path) pickles the module object: the file refers to the classes by import path "
           "(minipose.posenet.ResPoseNet ...) and unpickling rebuilds them by running Python code, so it breaks when "
           "the code moves or changes, and a malicious file can run anything. load_checkpoint reads with "
           "weights_only=True, so it refuses such a file with a RuntimeError that says pickled objects are refused "
           "on purpose, before any code from the file runs. A state dict needs only tensors and strings, which is "
           "why the official format, and ours, save model.state_dict().",
)

q5 = Question(
    "07.5", "the depth of an unknown checkpoint",
    hints=["Count the blocks of each stage: the keys backbone.layer3.<i>.conv1.weight for i = 0, 1, ...",
           "ResNet-34 and ResNet-50 both have [3, 4, 6, 3] blocks; only a Bottleneck has conv3."],
    answer="No single key gives the depth; the block counts per stage and the block type do, as explain_mismatch "
           "uses them:\n\n"
           "    from minipose import RESNET_SPEC, BasicBlock, Bottleneck\n"
           "    from minipose.checkpoint import strip_module_prefix\n\n"
           "    def resnet_depth(state_dict):\n"
           "        state_dict = strip_module_prefix(state_dict)\n"
           "        blocks = [len({k.split('.')[2] for k in state_dict if k.startswith(f'backbone.layer{n}.')})\n"
           "                  for n in (1, 2, 3, 4)]\n"
           "        block = Bottleneck if any('.conv3.' in k for k in state_dict) else BasicBlock\n"
           "        return next(d for d, (b, counts) in RESNET_SPEC.items() if b is block and counts == blocks)\n\n"
           "The number of blocks in layer3 alone (2, 6, 6, 23, 36) separates all depths but 34 and 50; the "
           "presence of conv3 keys (or head.deconv_layers.0.weight having 2048 input channels instead of 512) "
           "separates those two.",
)

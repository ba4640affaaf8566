"""Exercises of lesson 07, checkpoints and the official release (written directly, not generated).

The lesson saves and loads the official format and strips DataParallel's `module.`. Its exercises ask for what it
does not print: how many entries a small network's state dict has (predicted first), loading a checkpoint into a
network with a different number of joints (every tensor that fits, and a report of those that do not), and
stripping the prefixes of both DataParallel and torch.compile. Their references live here.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from minipose.exercises import Exercise, Mistake, Prediction, Question, call, named_slip, read_number
from minipose.head import HeadNet
from minipose.posenet import ResPoseNet


# --- 07.0: predict how many entries a small network's state dict has ----------------------------------------------

def _small_net() -> nn.Module:
    """The lesson's small network: conv (with bias), BatchNorm, ReLU, conv (with bias)."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))


def _check_entries(answer) -> str:
    value = read_number(answer, "entries", "5", whole=True)
    got = int(value)
    conv, norm = 2, 2 + 3  # weight and bias; weight, bias and three buffers
    want = conv + norm + conv
    if got == want:
        return ("9 entries: each convolution's weight and bias, and BatchNorm's weight and bias with its three "
                "buffers, running_mean, running_var and num_batches_tracked; ReLU has none.")
    named_slip(got, [  # counts: only the exact number names a slip
        (6, ("that counts the parameters only: state_dict() also holds BatchNorm's buffers (running_mean, "
             "running_var, num_batches_tracked), which a checkpoint must keep")),
        (8, ("BatchNorm has a third buffer besides running_mean and running_var: num_batches_tracked, the number of "
             "training batches it has seen")),
        (7, "nn.Conv2d has a bias unless it is built with bias=False, as the ResNet convolutions are"),
        (4, "the state dict has one entry per tensor, not per layer: a convolution has two (weight, bias)"),
        (3, "the state dict has one entry per tensor, not per layer with weights"),
        (10, "ReLU has no weights and no buffers: it adds no entry"),
    ], rel=0, abs_tol=0)
    raise Mistake(f"{got} is not it: count the tensors of each layer (weights, biases, and BatchNorm's buffers)")


q0 = Prediction(
    "07.0", "predict a state dict's size", "predicted_entries", _check_entries,
    hints=["A state dict has one entry per tensor: parameters and buffers.",
           "nn.Conv2d(3, 4, 3) has a bias (bias=True is the default). BatchNorm2d keeps a weight, a bias and three "
           "buffers."],
)


# --- 07.1: load what fits into a network with other joints ------------------------------------------------------

def _pose_net(joints: int, seed: int, wide: int = 16) -> nn.Module:
    """A small ResPoseNet: a two-convolution backbone with BatchNorm under the lesson's head (8 depth bins)."""
    torch.manual_seed(seed)
    backbone = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), bn1=nn.BatchNorm2d(8), relu=nn.ReLU(),
        conv2=nn.Conv2d(8, 32, 3, stride=4, padding=1), pool=nn.AvgPool2d(4)))
    net = ResPoseNet(backbone, HeadNet(joints, in_channels=32, depth_dim=8, channels=wide), joint_num=joints)
    with torch.no_grad():  # BatchNorm statistics that differ from a fresh model's, so loading them shows
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.num_batches_tracked.fill_(seed)
    return net


def _cases():
    """(what, checkpoint, model): an 18-joint checkpoint into a 21-joint model, with a tensor the model lacks and
    without one it has; and a checkpoint whose head is wider, into the 18-joint model."""
    ckpt = OrderedDict(_pose_net(18, seed=1).state_dict())
    ckpt["head.extra.weight"] = torch.ones(3)  # a tensor this model has no place for
    del ckpt["backbone.conv2.bias"]  # and one the model has but the checkpoint lacks
    yield "an 18-joint checkpoint into a 21-joint model", ckpt, _pose_net(21, seed=2)
    yield "a checkpoint with a 32-channel head into a 16-channel one", OrderedDict(
        _pose_net(18, seed=3, wide=32).state_dict()), _pose_net(18, seed=4)


def _check_load_fitting(fn) -> str:
    for what, ckpt, model in _cases():
        kept = OrderedDict((k, v.clone()) for k, v in ckpt.items())
        before = {k: v.clone() for k, v in model.state_dict().items()}
        params = {k: p for k, p in model.named_parameters()}
        try:
            out = call(fn, model, ckpt)
        except Mistake as err:
            text = str(err)
            if "Error(s) in loading state_dict" in text:  # with strict=False: only a size mismatch
                raise Mistake(f"load_state_dict refused {what}: strict=False forgives missing and unexpected "
                              "names, never a shape that differs. Leave those tensors out of what you load") \
                    from None
            if "leaf Variable that requires grad" in text:
                raise Mistake("copying into a parameter in place needs torch.no_grad() (or load_state_dict with "
                              "strict=False on the tensors that fit)") from None
            raise
        if list(ckpt) != list(kept) or any(not torch.equal(ckpt[k], kept[k]) for k in kept):
            raise Mistake("your function changed the checkpoint it was given; read it, build what you load "
                          "separately")
        if any(model.get_parameter(k) is not p for k, p in params.items()):
            raise Mistake("your function replaced the model's parameters with new tensors; copy the values into "
                          "them (load_state_dict does), so an optimizer built on the model still holds them")
        have = before
        fits = [k for k in ckpt if k in have and ckpt[k].shape == have[k].shape]
        want_skipped = [k for k in ckpt if k not in fits]
        after = model.state_dict()
        for key, value in after.items():
            want = ckpt[key] if key in fits else before[key]
            if torch.equal(value, want):
                continue
            if key in fits and torch.equal(value, before[key]):
                if key.split(".")[-1] in ("running_mean", "running_var", "num_batches_tracked"):
                    raise Mistake(f"{key} was not loaded: BatchNorm's buffers belong to the checkpoint too "
                                  "(model.state_dict() has them, model.named_parameters() does not)")
                raise Mistake(f"{key} fits the model (same name, same shape) but was not loaded")
            if key not in fits:
                raise Mistake(f"for {what}, {key} changed although the checkpoint has no tensor of its shape: "
                              "a tensor that does not fit is skipped whole, the model keeps its own")
            raise Mistake(f"{key} holds values that are neither the checkpoint's nor the model's own")
        if out is None:
            raise Mistake("the tensors are loaded, but return the names of the checkpoint's tensors you skipped")
        try:
            got = list(out)
        except TypeError:
            raise Mistake(f"return a list of names; you returned {type(out).__name__}") from None
        if any(not isinstance(k, str) for k in got):
            raise Mistake("return the skipped tensors' names (strings), not the tensors or their shapes")
        if len(set(got)) != len(got):
            raise Mistake("a name appears twice in what you return: list each skipped tensor once")
        missing = [k for k in have if k not in ckpt]
        if set(got) == set(want_skipped):
            continue
        if set(got) == set(want_skipped) | set(missing):
            raise Mistake(f"you also listed {', '.join(missing)}, which the model has and the checkpoint lacks; "
                          "return only the checkpoint's tensors that were not loaded")
        if set(got) == {k for k in ckpt if k in have and k not in fits}:
            raise Mistake(f"for {what} you reported the tensors of another shape but not "
                          f"{', '.join(k for k in want_skipped if k not in have)}, which the model has no place for")
        if set(got) == {k for k in ckpt if k not in have}:
            raise Mistake(f"for {what} you reported the names the model lacks but not the tensors of another shape "
                          f"({', '.join(k for k in want_skipped if k in have)})")
        raise Mistake(f"for {what} the skipped tensors are {want_skipped}; you returned {got}")
    return ("Loads every tensor whose name and shape fit (buffers included) into a 21-joint model from an 18-joint "
            "checkpoint and into a narrower head, leaves the rest as it was, and reports exactly what was skipped.")


q1 = Exercise(
    "07.1", "load what fits into another network", "load_fitting", _check_load_fitting,
    refuses=("minipose.checkpoint.load_checkpoint", "minipose.checkpoint.explain_mismatch"),
    hints=["Compare with model.state_dict(): a checkpoint tensor fits when its name is there and its shape is "
           "the same.",
           "model.load_state_dict(fitting, strict=False) loads a dict of the fitting tensors (strict=False: the "
           "others are missing on purpose); return [k for k in checkpoint if k not in fitting]."],
)


# --- 07.2: the prefixes of DataParallel and torch.compile ---------------------------------------------------------

_WRAPPERS = ("module.", "_orig_mod.")


def _strip(key: str) -> str:
    """Every leading 'module.' and '_orig_mod.', in any order."""
    while key.startswith(_WRAPPERS):
        key = key[len("module."):] if key.startswith("module.") else key[len("_orig_mod."):]
    return key


def _state(keys: list[str]) -> OrderedDict:
    """A state dict with these keys and small distinct tensors, in this order (as model.state_dict() gives)."""
    return OrderedDict((k, torch.full((2,), float(i))) for i, k in enumerate(keys))


_POSENET_KEYS = ["backbone.conv1.weight", "backbone.bn1.running_mean", "backbone.layer1.0.conv1.weight",
                 "head.deconv_layers.0.weight", "head.final_layer.weight", "head.final_layer.bias"]
_CASES = [
    ("a DataParallel-wrapped ResPoseNet", ["module." + k for k in _POSENET_KEYS]),
    ("a torch.compile'd ResPoseNet", ["_orig_mod." + k for k in _POSENET_KEYS]),
    ("DistributedDataParallel around a compiled model", ["module._orig_mod." + k for k in _POSENET_KEYS]),
    ("a compiled DistributedDataParallel model", ["_orig_mod.module." + k for k in _POSENET_KEYS]),
    ("a wrapped model with parts named 'module' and 'modules'",
     ["module.backbone.module.weight", "module.head.module.final_layer.weight", "module.modules.0.weight"]),
    ("a state dict without a prefix", list(_POSENET_KEYS)),
    ("an empty state dict", []),
]


def _check_strip_wrappers(fn) -> str:
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
        want = [_strip(k) for k in keys]
        got = list(out)
        if sorted(map(str, got)) == sorted(want) and got != want:
            raise Mistake("the keys are right but their order is not: keep the state dict's order (a dict "
                          "comprehension over state_dict.items() does)")
        if got != want:
            wrong = [(k, w, g) for k, w, g in zip(keys, want, got) if w != g] or [(keys, want, got)]
            original, expected, found = wrong[0]
            if not isinstance(found, str) or not isinstance(original, str):
                raise Mistake(f"for {name}, expected the keys {want[:2]}..., got {got[:2]}")
            said = f"for {name}, you turned {original!r} into {found!r}"
            if found == original:
                if original.startswith("_orig_mod."):
                    raise Mistake(f"{said}: nothing was stripped. torch.compile's '_orig_mod.' is a wrapper's "
                                  "prefix too: strip it as you strip 'module.'")
                raise Mistake(f"{said}: nothing was stripped; each key loses its leading wrapper prefixes")
            if found.startswith(_WRAPPERS) and _strip(found) == expected:
                rest = "_orig_mod." if found.startswith("_orig_mod.") else "module."
                raise Mistake(f"{said}: {rest!r} still leads. Strip both prefixes, in either order, until neither "
                              "leads the key (a while loop)")
            if found in (original.lstrip("module."), original.lstrip("_orig_mod."),
                         original.lstrip("module.").lstrip("_orig_mod."),
                         original.lstrip("_orig_mod.").lstrip("module.")):
                raise Mistake(f"{said}: str.lstrip strips any of the characters given, not the word; use "
                              "key.removeprefix('module.') or key[len('module.'):]")
            if found in (original.replace("module.", ""), original.replace("module.", "").replace("_orig_mod.", ""),
                         original.replace("_orig_mod.", "")) and "module." in expected:
                raise Mistake(f"{said}: replace() removes 'module.' everywhere in the key; only leading ones are "
                              "a wrapper's, one further in is a real submodule's name")
            raise Mistake(f"{said}; expected {expected!r}")
        for key, value, original in zip(out, out.values(), given.values()):
            if value is original:
                continue
            if isinstance(value, torch.Tensor) and value.data_ptr() == original.data_ptr():
                continue  # a view of the same memory (e.g. .detach()) is fine
            if isinstance(value, torch.Tensor) and value.dtype == original.dtype and torch.equal(value, original):
                raise Mistake("the values are copies (.clone()): return the same tensors under the new names; a "
                              "copy doubles the memory of a 137 MB checkpoint for nothing")
            raise Mistake(f"the tensor under {key!r} is not the one you were given: change the keys only")
    return ("Strips 'module.' (DataParallel, DDP) and '_orig_mod.' (torch.compile) in both orders, leaves "
            "'module' inside a key and unwrapped keys alone, keeps the order and the very same tensors.")


q2 = Exercise(
    "07.2", "the prefixes of DataParallel and torch.compile", "my_strip_wrappers", _check_strip_wrappers,
    refuses=("minipose.checkpoint.strip_module_prefix", "minipose.checkpoint.load_checkpoint",
             "torch.nn.modules.utils.consume_prefix_in_state_dict_if_present"),
    hints=[
        "Write a helper that cleans one key: while it starts with 'module.' or '_orig_mod.', cut that prefix "
        "off (key.removeprefix or slicing).",
        "Then {clean(k): v for k, v in state_dict.items()}: a new dict, the same order, the same tensors.",
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
    hints=["Save a small model with torch.save(model, path) and call load_checkpoint on the file. What does "
           "unpickling a module need, besides the weights?"],
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

"""Exercise checks of lesson 07 (a state dict's size, loading what fits into another network, the prefixes of
DataParallel and torch.compile): the reference passes, realistic mistakes get their own message, and the
checker's references agree with the same thing done another way."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import FAILED, PASSED, ex07


# --- 07.0 ------------------------------------------------------------------------------------------------------

def test_predicted_entries_check():
    assert_verdicts(ex07.q0, reference("07.0", "predicted_entries"), [
        (6, "that counts the parameters only"),
        (8, "num_batches_tracked"),
        (7, "nn.Conv2d has a bias unless"),
        (4, "one entry per tensor, not per layer: a convolution has two"),
        (3, "not per layer with weights"),
        (10, "ReLU has no weights and no buffers"),
        (12, "12 is not it"),
        ("nine", "give one number of entries"),
        (9.5, "a count of entries is a whole number"),
    ])
    assert ex07.q0.result("9").passed  # a number written as text counts too
    assert ex07.q0.result(9.0).status == PASSED


def test_entries_reference_against_the_network():
    """The checker's count (written as arithmetic) is the length of the real network's state dict."""
    net = ex07._small_net()
    assert len(net.state_dict()) == 9
    assert ex07.q0.result(len(net.state_dict())).status == PASSED
    assert ex07.q0.result(len(list(net.parameters()))).status == FAILED


# --- 07.1 ------------------------------------------------------------------------------------------------------

def _fitting(model, checkpoint, own=None):
    own = model.state_dict() if own is None else own
    return {k: v for k, v in checkpoint.items() if k in own and v.shape == own[k].shape}


def parameters_only(model, checkpoint):
    fitting = _fitting(model, checkpoint, dict(model.named_parameters()))
    model.load_state_dict(fitting, strict=False)
    return [k for k in checkpoint if k not in fitting]


def names_only(model, checkpoint):
    own = model.state_dict()
    model.load_state_dict({k: v for k, v in checkpoint.items() if k in own}, strict=False)
    return [k for k in checkpoint if k not in own]


def shapes_reported_only(model, checkpoint):
    return [k for k in reference("07.1", "load_fitting")(model, checkpoint) if k in model.state_dict()]


def names_reported_only(model, checkpoint):
    return [k for k in reference("07.1", "load_fitting")(model, checkpoint) if k not in model.state_dict()]


def also_missing(model, checkpoint):
    skipped = reference("07.1", "load_fitting")(model, checkpoint)
    return skipped + [k for k in model.state_dict() if k not in checkpoint]


def no_return(model, checkpoint):
    reference("07.1", "load_fitting")(model, checkpoint)


def copy_without_no_grad(model, checkpoint):
    own = dict(model.named_parameters())
    for k, v in checkpoint.items():
        if k in own and own[k].shape == v.shape:
            own[k].copy_(v)
    return []


def partial_copy(model, checkpoint):  # the first entries of a final-layer bias of another size copied anyway
    skipped = reference("07.1", "load_fitting")(model, checkpoint)
    bias, theirs = model.head.final_layer.bias, checkpoint["head.final_layer.bias"]
    with torch.no_grad():
        n = min(len(bias), len(theirs))
        bias[:n] = theirs[:n]
    return skipped


def pops_from_checkpoint(model, checkpoint):
    own = model.state_dict()
    skipped = [k for k in checkpoint if k not in own or checkpoint[k].shape != own[k].shape]
    for k in skipped:
        checkpoint.pop(k)
    model.load_state_dict(checkpoint, strict=False)
    return skipped


def new_parameters(model, checkpoint):
    skipped = reference("07.1", "load_fitting")(model, checkpoint)
    model.head.final_layer.bias = nn.Parameter(model.head.final_layer.bias.detach().clone())
    return skipped


def duplicated(model, checkpoint):
    skipped = reference("07.1", "load_fitting")(model, checkpoint)
    return skipped + skipped[:1]


def tensors_returned(model, checkpoint):
    return [checkpoint[k] for k in reference("07.1", "load_fitting")(model, checkpoint)]


def test_load_fitting_check():
    assert_verdicts(ex07.q1, reference("07.1", "load_fitting"), [
        (parameters_only, "backbone.bn1.running_mean was not loaded: BatchNorm's buffers"),
        (names_only, "strict=False forgives missing and unexpected names, never a shape that differs"),
        (shapes_reported_only, "you reported the tensors of another shape but not head.extra.weight"),
        (names_reported_only, "you reported the names the model lacks but not the tensors of another shape"),
        (also_missing, "you also listed backbone.conv2.bias"),
        (no_return, "return the names of the checkpoint's tensors you skipped"),
        (copy_without_no_grad, "needs torch.no_grad()"),
        (partial_copy, "head.final_layer.bias changed although the checkpoint has no tensor of its shape"),
        (pops_from_checkpoint, "changed the checkpoint it was given"),
        (new_parameters, "replaced the model's parameters with new tensors"),
        (duplicated, "a name appears twice"),
        (tensors_returned, "the skipped tensors' names (strings)"),
    ])


def test_load_fitting_reference_against_a_loop():
    """What the checker expects, tensor by tensor, is what a plain loop over the model's state dict gives."""
    for what, ckpt, model in ex07._cases():
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                if name in ckpt and ckpt[name].shape == tensor.shape:
                    tensor.copy_(ckpt[name])
        loaded = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
        assert "head.final_layer.weight" not in loaded and "backbone.bn1.running_mean" in loaded, what
        assert set(loaded) <= set(_fitting(model, ckpt)), what
    assert {k for k in ckpt if k.startswith("head.deconv")} - set(_fitting(model, ckpt))  # the wider head: skipped


# --- 07.2 ------------------------------------------------------------------------------------------------------

def module_only(state_dict):
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def one_pass(state_dict):
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in state_dict.items()}


def compile_only(state_dict):
    return {k.removeprefix("_orig_mod."): v for k, v in state_dict.items()}


def lstrip(state_dict):
    return {k.lstrip("module.").lstrip("_orig_mod."): v for k, v in state_dict.items()}


def replace_everywhere(state_dict):
    return OrderedDict((k.replace("module.", "").replace("_orig_mod.", ""), v) for k, v in state_dict.items())


def first_word_off(state_dict):
    return {k.split(".", 1)[1]: v for k, v in state_dict.items()}


def as_list(state_dict):
    return list(reference("07.2", "my_strip_wrappers")(state_dict).items())


def cloned(state_dict):
    return {k: v.clone() for k, v in reference("07.2", "my_strip_wrappers")(state_dict).items()}


def sorted_keys(state_dict):
    return dict(sorted(reference("07.2", "my_strip_wrappers")(state_dict).items()))


def renames_in_place(state_dict):
    new = reference("07.2", "my_strip_wrappers")(state_dict)
    state_dict.clear()
    state_dict.update(new)
    return state_dict


def converted(state_dict):
    return {k: v.double() for k, v in reference("07.2", "my_strip_wrappers")(state_dict).items()}


def test_strip_wrappers_check():
    assert_verdicts(ex07.q2, reference("07.2", "my_strip_wrappers"), [
        (module_only, "nothing was stripped. torch.compile's '_orig_mod.' is a wrapper's prefix too"),
        (one_pass, "'module.' still leads"),
        (compile_only, "nothing was stripped; each key loses its leading wrapper prefixes"),
        (lstrip, "str.lstrip strips any of the characters given"),
        (replace_everywhere, "replace() removes 'module.' everywhere"),
        (first_word_off, "'_orig_mod.' still leads"),
        (as_list, "you returned a list"),
        (cloned, "the values are copies (.clone())"),
        (sorted_keys, "the keys are right but their order is not"),
        (renames_in_place, "renamed the keys of the dictionary it was given"),
        (converted, "is not the one you were given: change the keys only"),
    ])


class _Wrapper(nn.Module):
    """Keeps a model under an attribute name, as DataParallel (.module) and torch.compile (._orig_mod) do."""

    def __init__(self, name, inner):
        super().__init__()
        self.add_module(name, inner)


def test_strip_reference_against_real_wrappers():
    """The prefixes the checker strips are the ones real wrappers put there: torch.compile's OptimizedModule and
    an attribute named 'module' (what DataParallel and DDP hold), nested both ways."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    compiled = torch.compile(net)  # wraps without compiling anything until it is called
    assert list(compiled.state_dict())[0] == "_orig_mod.0.weight"
    for wrapped in (_Wrapper("module", compiled), torch.compile(_Wrapper("module", net)), nn.DataParallel(net)):
        keys = list(wrapped.state_dict())
        assert [ex07._strip(k) for k in keys] == list(net.state_dict()), keys[0]
    strip = reference("07.2", "my_strip_wrappers")
    assert list(strip(_Wrapper("module", compiled).state_dict())) == list(net.state_dict())


def test_questions_have_hints_and_answers(capsys):
    for question in (ex07.q3, ex07.q4, ex07.q5):
        question.hint()
        question.answer()
    printed = capsys.readouterr().out
    assert "question 07.3" in printed and "resnet_depth" in printed

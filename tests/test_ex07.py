"""Exercise checks of lesson 07 (checkpoints): the reference passes, realistic mistakes get their own message."""
from __future__ import annotations

import pickle
from collections import OrderedDict

import torch

from exercise_helpers import assert_verdicts, reference
from minipose.exercises import PASSED, ex07


def _official(model, optimizer, epoch):
    return {"epoch": epoch, "network": model.state_dict(), "optimizer": optimizer.state_dict()}


def whole_model(path, model, optimizer, epoch):
    torch.save(model, path)


def objects_in_the_dict(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "network": model, "optimizer": optimizer.state_dict()}, path)


def optimizer_object(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "network": model.state_dict(), "optimizer": optimizer}, path)


def state_dict_key(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def model_key(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def tutorial_optimizer_key(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "network": model.state_dict(), "optimizer_state_dict": optimizer.state_dict()}, path)


def bare_state_dict(path, model, optimizer, epoch):
    torch.save(model.state_dict(), path)


def no_optimizer(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "network": model.state_dict()}, path)


def no_epoch(path, model, optimizer, epoch):
    torch.save({"network": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def epoch_as_tensor(path, model, optimizer, epoch):
    torch.save({"epoch": torch.tensor(epoch), "network": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def parameters_only(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "network": dict(model.named_parameters()), "optimizer": optimizer.state_dict()}, path)


def adds_an_extension(path, model, optimizer, epoch):
    torch.save(_official(model, optimizer, epoch), path + ".pth")


def plain_pickle(path, model, optimizer, epoch):
    with open(path, "wb") as f:
        pickle.dump(_official(model, optimizer, epoch), f)


def optimizer_state_only(path, model, optimizer, epoch):
    torch.save({"epoch": epoch, "network": model.state_dict(), "optimizer": optimizer.state_dict()["state"]}, path)


def test_save_checkpoint_check():
    assert_verdicts(ex07.q1, reference("07.1", "my_save_checkpoint"), [
        (whole_model, "you saved the whole model object (torch.save(model, path))"),
        (objects_in_the_dict, "'network' holds the model object itself"),
        (optimizer_object, "'optimizer' holds the optimizer object itself"),
        (state_dict_key, "the weights are under 'state_dict'"),
        (model_key, "the weights are under 'model'"),
        (tutorial_optimizer_key, "the optimizer state is under 'optimizer_state_dict'"),
        (bare_state_dict, "you saved the bare model.state_dict()"),
        (no_optimizer, "no 'optimizer' entry"),
        (no_epoch, "no 'epoch' entry"),
        (epoch_as_tensor, "'epoch' holds tensor(7)"),
        (parameters_only, "the BatchNorm running statistics (running_mean, running_var, num_batches_tracked)"),
        (adds_an_extension, "you wrote snapshot_7.pth.tar.pth in its folder instead"),
        (plain_pickle, "cannot read your file (UnpicklingError)"),
        (optimizer_state_only, "'optimizer' must be the whole optimizer.state_dict()"),
    ])


def test_other_correct_saves_pass():
    def with_prefix(path, model, optimizer, epoch):  # as the official code, from a DataParallel model
        state = _official(model, optimizer, epoch)
        state["network"] = {"module." + k: v for k, v in state["network"].items()}
        torch.save(state, path)

    result = ex07.q1.result(with_prefix)
    assert result.status == PASSED, result.message


# --- 07.2 ------------------------------------------------------------------------------------------------------

def lstrip(state_dict):
    return {k.lstrip("module."): v for k, v in state_dict.items()}


def replace_everywhere(state_dict):
    return OrderedDict((k.replace("module.", ""), v) for k, v in state_dict.items())


def always_slice(state_dict):
    return {k[7:]: v for k, v in state_dict.items()}


def first_word_off(state_dict):
    return {k.split(".", 1)[1]: v for k, v in state_dict.items()}


def as_list(state_dict):
    return [(k.removeprefix("module."), v) for k, v in state_dict.items()]


def cloned(state_dict):
    return {k.removeprefix("module."): v.clone() for k, v in state_dict.items()}


def sorted_keys(state_dict):
    return dict(sorted((k.removeprefix("module."), v) for k, v in state_dict.items()))


def renames_in_place(state_dict):
    for key in list(state_dict):
        if key.startswith("module."):
            state_dict[key[len("module."):]] = state_dict.pop(key)
    return state_dict


def converted(state_dict):
    return {k.removeprefix("module."): v.double() for k, v in state_dict.items()}


def test_strip_module_prefix_check():
    assert_verdicts(ex07.q2, reference("07.2", "my_strip_module_prefix"), [
        (lstrip, "into 'ayer1.0.conv1.weight': str.lstrip('module.') strips any of the characters"),
        (replace_everywhere, "into 'backbone.subweight': replace() removes 'module.' everywhere"),
        (always_slice, "you turned 'backbone.conv1.weight' into 'e.conv1.weight'"),
        (first_word_off, "you turned 'backbone.conv1.weight' into 'conv1.weight'"),
        (as_list, "you returned a list"),
        (cloned, "the values are copies (.clone())"),
        (sorted_keys, "the keys are right but their order is not"),
        (renames_in_place, "renamed the keys of the dictionary it was given"),
        (converted, "is not the one you were given: change the keys only"),
    ])


def test_other_correct_strips_pass():
    def per_key(state_dict):  # also right on every state dict DataParallel can make
        return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}
    result = ex07.q2.result(per_key)
    assert result.status == PASSED, result.message


def test_questions_have_hints_and_answers(capsys):
    for question in (ex07.q3, ex07.q4, ex07.q5):
        question.hint()
        question.answer()
    printed = capsys.readouterr().out
    assert "question 07.3" in printed and "resnet_depth" in printed

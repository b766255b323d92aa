"""The best epoch kept in memory: restored at the end, carried through a checkpoint, checkpoints by the clock."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import TrainerControl, TrainerState, TrainingArguments

from toolkit.distill.best_epoch import BestEpochKeeper


def epochs(keeper: BestEpochKeeper, model: torch.nn.Module, values: list[float], args, state) -> TrainerControl:
    """Evaluate after each 'epoch', the weights set to the epoch's number first; the last control."""
    control = TrainerControl()
    for epoch, value in enumerate(values, start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        state.global_step = epoch
        control = TrainerControl()
        keeper.on_evaluate(args, state, control, metrics={"eval_macro_f1": value}, model=model)
    return control


def test_training_ends_on_the_best_epochs_weights_and_stops_after_patience(tmp_path: Path) -> None:
    model, args, state = torch.nn.Linear(2, 2), TrainingArguments(output_dir=str(tmp_path)), TrainerState()
    keeper = BestEpochKeeper("macro_f1", seconds=3600.0, patience=2)
    keeper.on_train_begin(args, state, TrainerControl(), model=model)
    control = epochs(keeper, model, [0.5, 0.7, 0.6], args, state)
    assert not control.should_training_stop and not control.should_save  # an hour has not passed: no checkpoint
    control = epochs(keeper, model, [0.5, 0.7, 0.6, 0.65], args, state)
    assert control.should_training_stop  # two epochs without beating 0.7
    keeper.on_train_end(args, state, TrainerControl(), model=model)
    assert torch.equal(model.weight, torch.full((2, 2), 2.0))  # epoch 2's weights (0.7), not the last epoch's


def test_a_resumed_run_still_ends_on_the_best_weights_it_had_before_the_crash(tmp_path: Path) -> None:
    model, args, state = torch.nn.Linear(2, 2), TrainingArguments(output_dir=str(tmp_path)), TrainerState()
    keeper = BestEpochKeeper("macro_f1", seconds=0.0, patience=3)
    keeper.on_train_begin(args, state, TrainerControl(), model=model)
    control = epochs(keeper, model, [0.6, 0.8, 0.7], args, state)
    assert control.should_save  # seconds=0: every epoch's end writes a checkpoint
    (tmp_path / "checkpoint-3").mkdir()
    keeper.on_save(args, state, control)
    resumed_model = torch.nn.Linear(2, 2)
    resumed = BestEpochKeeper("macro_f1", seconds=0.0, patience=3, resume_from=str(tmp_path / "checkpoint-3"))
    resumed.on_train_begin(args, state, TrainerControl(), model=resumed_model)
    assert resumed.best == 0.8 and resumed.without_gain == 1
    epochs(resumed, resumed_model, [0.75], args, state)  # the next epoch: 0.75, still below 0.8
    assert resumed.without_gain == 2
    resumed.on_train_end(args, state, TrainerControl(), model=resumed_model)
    assert torch.equal(resumed_model.weight, torch.full((2, 2), 2.0))

"""Which process am I? One place for the rank logic, so that `domain-distill run` works unchanged under
`accelerate launch` / `torchrun`: every process trains (DDP through the HF Trainer) and labels its share, the main
process alone writes shared files, and the others wait for it at barriers."""

from __future__ import annotations


def _state():
    import torch
    from accelerate import PartialState

    # Without a GPU, processes talk over gloo and accelerate must be told it is a CPU run. The state is shared
    # (and may be re-made by the HF Trainer), so it is asked for afresh every time.
    return PartialState(cpu=not torch.cuda.is_available())


def process_share() -> tuple[int, int]:
    """(this process's index, number of processes); (0, 1) when not launched distributed."""
    state = _state()
    return state.process_index, state.num_processes


def is_main_process() -> bool:
    return process_share()[0] == 0


def barrier() -> None:
    """Wait until every process gets here (no-op for a single process)."""
    if process_share()[1] > 1:
        _state().wait_for_everyone()


def launch_command(processes: int, module: str) -> list[str]:
    """`accelerate launch` of `python -m module` on `processes` processes of this machine (one per GPU; without
    GPUs the processes train on the CPU over gloo). Each call takes a free port of its own, so one launch's
    lingering sockets never collide with the next.

    >>> launch_command(2, "toolkit.cli")[:3]  # doctest: +SKIP
    ['.venv/bin/python', '-m', 'accelerate.commands.launch']
    """
    import socket
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # through this interpreter: an `accelerate` script on PATH may belong to another Python (a GPU image's system one)
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",  # the trainer turns bf16 on itself where the GPU has it
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(port),
        "-m",
        module,
    ]

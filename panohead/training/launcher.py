"""Starting ``panohead train`` as a separate process (torchrun for several GPUs) and stopping it gracefully.

A run launched this way lives in its own session (process group), so it survives the app that started
it and never receives the terminal's signals meant for the app. Its stdout and stderr go to
``RUN/console.log`` and its process id to ``RUN/process.json`` (with the process's start time, so a
later app session that attaches to the folder can stop it without mistaking a recycled pid for it).
Stopping sends one SIGTERM to the leader only: the trainer then writes a snapshot and exits; torchrun
forwards the signal once to each worker. (Signalling the whole group would also hit DataLoader workers,
which die on SIGTERM and break the trainer's graceful exit.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import panohead
from panohead.atomic import write_bytes_atomic
from panohead.config import PRESET_NAMES, PresetName
from panohead.data.dataset import DatasetError, HeadDataset, default_mask_path
from panohead.errors import one_line
from panohead.training.monitor import CONSOLE_FILE
from panohead.training.snapshot import latest_snapshot
from panohead.untrusted import parse_json

# torchrun SIGKILLs its workers this many seconds after forwarding a stop signal (its default, 30 s, can
# cut a large model's last steps and snapshot write short).
TORCHRUN_SHUTDOWN_SECONDS = "600"
PACKAGE_ROOT = Path(panohead.__file__).resolve().parents[1]  # so the child imports this very code


@dataclass(frozen=True)
class LaunchSpec:
    """What the panel's "Start" asks for; :func:`train_arguments` turns it into ``panohead train`` options."""

    data: str
    outdir: str
    masks: str | None = None  # mask folder or zip; None: the loader's default beside ``data``
    preset: PresetName = "small"
    kimg: float | None = None  # None: the preset's length
    resume: str | None = None  # a snapshot path, or "auto" for the newest in outdir
    finetune: str | None = None  # a checkpoint (ours or an official .pkl) to start from
    gpus: int = 1  # 0 = train on the CPU
    extra: tuple[str, ...] = field(default_factory=tuple)  # further ``panohead train`` options


def train_arguments(spec: LaunchSpec) -> list[str]:
    """``train --data ... --outdir ...`` options of ``spec`` (absolute paths, so the child's folder does not matter)."""
    absolute = lambda path: str(Path(path).expanduser().resolve())  # noqa: E731
    args = ["train", "--data", absolute(spec.data)]
    if spec.masks:
        args += ["--masks", absolute(spec.masks)]
    args += [
        "--outdir",
        absolute(spec.outdir),
        "--preset",
        spec.preset,
        "--device",
        "cpu" if spec.gpus == 0 else "cuda",
    ]
    if spec.kimg is not None:
        args += ["--kimg", f"{spec.kimg:g}"]
    if spec.resume:
        args += ["--resume", spec.resume if spec.resume == "auto" else absolute(spec.resume)]
    if spec.finetune:
        args += ["--finetune", absolute(spec.finetune)]
    return args + list(spec.extra)


def launch_command(args: list[str], gpus: int) -> list[str]:
    """The command line for ``panohead <args>`` in ``gpus`` processes (torchrun from 2 on)."""
    if gpus > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={gpus}",
            "-m",
            "panohead.cli",
            *args,
        ]
    return [sys.executable, "-m", "panohead.cli", *args]


def check_launch(spec: LaunchSpec, visible_gpus: int) -> str | None:
    """Why ``spec`` cannot start, in one line (None when it can). Reads every image header of the dataset
    with the loader's checks (images, labels, masks, sizes), so run it off the UI thread."""
    if spec.preset not in PRESET_NAMES:
        return f"unknown preset {spec.preset!r}; choose one of {', '.join(PRESET_NAMES)}"
    if spec.gpus > visible_gpus:
        return f"{spec.gpus} GPUs asked for but torch sees {visible_gpus}"
    if spec.kimg is not None and not spec.kimg > 0:
        return f"kimg {spec.kimg:g} must be positive"
    if spec.resume and spec.finetune:
        return "choose either resume or fine-tune, not both"
    for name, path in (("resume snapshot", spec.resume), ("fine-tune checkpoint", spec.finetune)):
        if path and path != "auto" and not Path(path).expanduser().is_file():
            return f"{path}: {name} not found"
    if not spec.outdir.strip():
        return "choose an output folder for the run"
    outdir = Path(spec.outdir).expanduser()
    if outdir.exists() and not outdir.is_dir():
        return f"{outdir}: output folder is a file"
    if not spec.resume and outdir.is_dir() and latest_snapshot(outdir) is not None:
        return f"{outdir}: already holds a run's snapshots; continue it (resume) or choose another output folder"
    if not spec.data.strip():
        return "choose a dataset folder or zip"
    try:
        HeadDataset(Path(spec.data).expanduser(), Path(spec.masks).expanduser() if spec.masks else None)
    except DatasetError as error:
        return str(error)
    except OSError as error:
        return f"{spec.data}: cannot read the dataset ({error.strerror or error})"
    return None


def masks_in_use(data: str, masks: str | None) -> str:
    """One line saying which masks a run on ``data`` reads: ``masks`` itself, or the loader's default
    (:func:`panohead.data.dataset.default_mask_path`) and whether it exists. Only stats two paths."""
    if masks:
        return f"masks: {masks}"
    if not data.strip():
        return "masks: <dataset>_masks beside the dataset (or <stem>_masks.zip) unless you choose a folder or zip"
    try:
        default = default_mask_path(Path(data).expanduser())
        found = default.exists()
    except DatasetError as error:
        return f"no masks: {error}"
    except OSError as error:  # a name too long for the filesystem, a folder we may not read
        return f"no masks: cannot look beside this dataset ({error.strerror or one_line(error)})"
    if found:
        return f"masks: {default} (the default beside the dataset)"
    # HeadDataset needs a mask per image even with --no-mask-channel (the reals grid and batches carry them).
    return (
        f"no masks: {default} does not exist, so the start is refused (every image needs a foreground mask: "
        "the discriminator's mask channel compares it with the rendered one)"
    )


def recorded_masks(folder: str | os.PathLike) -> str | None:
    """The masks line (:func:`masks_in_use`) of the run in ``folder``, from its options.json (None without one)."""
    try:
        description = parse_json((Path(folder) / "options.json").read_bytes())
        data, masks = description["data"], description.get("masks")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, str) or not (masks is None or isinstance(masks, str)):
        return None
    return masks_in_use(data, masks)


def resume_arguments(folder: str | os.PathLike) -> tuple[list[str], int]:
    """``panohead train`` options that continue the run in ``folder`` (from its options.json) and its process count.

    The recorded command is reused with ``--resume auto`` in place of ``--resume``/``--finetune``.
    """
    path = Path(folder) / "options.json"
    try:
        description = parse_json(path.read_bytes())
        words = shlex.split(description["command"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: cannot read the run's command to resume it ({error})") from None
    if len(words) < 2 or words[1] != "train":
        raise ValueError(f"{path}: the recorded command is not 'panohead train ...' and cannot be resumed")
    args, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("--resume", "--finetune"):
            skip = True
        elif not word.startswith(("--resume=", "--finetune=")):
            args.append(word)
    return args + ["--resume", "auto"], int(description.get("world_size") or 1)


PROCESS_FILE = "process.json"


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot; None if it is gone, a zombie, or no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


class RunProcess:
    """A training process this app started (see the module docstring for how it is stopped), or one an
    earlier app session started in the same folder (:meth:`adopt`)."""

    def __init__(
        self, args: list[str], outdir: str | os.PathLike, gpus: int, env: dict[str, str] | None = None
    ) -> None:
        self.outdir = Path(outdir).expanduser()
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.command = launch_command(args, gpus)
        self.console = self.outdir / CONSOLE_FILE
        environment = {**os.environ, **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), environment.get("PYTHONPATH")]))
        environment["PYTHONUNBUFFERED"] = "1"
        environment.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", TORCHRUN_SHUTDOWN_SECONDS)
        with open(self.console, "ab") as log:
            log.write(f"\n$ {shlex.join(self.command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=environment,
            )
        self._pid, self._start_time = self.process.pid, start_time(self.process.pid)
        self.stop_requested: float | None = None  # monotonic time of the graceful stop request
        description = {"pid": self._pid, "start_time": self._start_time, "command": self.command}
        write_bytes_atomic(self.outdir / PROCESS_FILE, (json.dumps(description) + "\n").encode())

    @classmethod
    def adopt(cls, folder: str | os.PathLike) -> RunProcess | None:
        """The still-running process an earlier app session launched in ``folder``, if there is one."""
        try:
            description = parse_json((Path(folder) / PROCESS_FILE).read_bytes())
            pid, started = int(description["pid"]), description["start_time"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if started is None or start_time(pid) != started:
            return None
        run = cls.__new__(cls)
        run.outdir, run.console, run.command = Path(folder), Path(folder) / CONSOLE_FILE, description.get("command", [])
        run.process, run._pid, run._start_time, run.stop_requested = None, pid, started, None
        return run

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        """None while running; the exit status (negative: killed by that signal) once it ended. Never waits.

        An adopted process is not our child: its status is unknown, reported as 0 (the log tells how it ended).
        """
        if self.process is not None:
            return self.process.poll()
        return None if start_time(self._pid) == self._start_time else 0

    @property
    def running(self) -> bool:
        return self.returncode is None

    def stop(self) -> None:
        """Ask for a graceful stop: the run writes a snapshot and exits (watch :attr:`running`)."""
        if self.running and self.stop_requested is None:
            os.kill(self._pid, signal.SIGTERM)
            self.stop_requested = time.monotonic()

    def kill(self) -> None:
        """Stop at once, without a snapshot: SIGKILL to the process group and to torchrun's workers (own sessions)."""
        if not self.running:
            return
        workers = descendants(self.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int | None:
        """Block up to ``timeout`` seconds for the exit (for scripts and tests, not for UI frames)."""
        deadline = time.monotonic() + timeout
        while self.returncode is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.returncode


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            children = [
                int(c)
                for task in os.listdir(f"/proc/{parent}/task")
                for c in Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            ]
        except OSError:
            continue
        found += children
        queue += children
    return found

"""Where a campaign's trials run: in this process (``local``) or as Ray tasks (``ray``).

An executor turns trials into a stream of :class:`Event` s (a trial started, a window's
record, a trial failed). It never writes the store: the driver (``measure.cli._run``)
appends every record to the :class:`~measure.store.ResultStore` as its event arrives, on
one code path for both executors, so a campaign started on one resumes on the other.

``local`` runs the trials one after another in this process (the default; no Ray needed).
``ray`` submits one Ray task per trial, asking for ``cpus_per_trial`` CPUs, plus
``num_gpus=1`` for a CUDA trial. Each task is a Ray generator that runs the real
:class:`~measure.run.Trial` on whichever node has the resources and yields each window's
record (with that node's hostname, CPU and GPU metadata) as the window closes. A worker
that dies mid-trial is retried by Ray (``max_retries``); windows already delivered are not
delivered twice (Ray drops re-yielded items, and the driver skips any (trial_key,
repeat_index) already stored). A trial's own failure (an exception in a window, a model
that cannot load) is not retried: its failed record is yielded, as locally.

A killed driver leaves nothing running: a local Ray it started is stopped by a watcher
(``measure/reaper.py``; Ray's own agents otherwise outlived the driver by about a minute),
and on a cluster reached with ``--address`` Ray ends the dead driver's job and its tasks.

Importing this module imports neither ray nor torch.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from measure.config import MeasureConfig
from measure.errors import MeasureError

CLUSTER_HINT = "install the [cluster] extra: pip install 'wattcast[cluster]'"
#: environment every Ray worker gets: nothing may download model weights
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass
class Event:
    """``start`` (a trial begins), ``record`` (a closed window) or ``failed`` (a trial stopped)."""

    kind: str
    cfg: MeasureConfig
    record: dict[str, Any] | None = None
    error: str | None = None


class Executor(Protocol):
    name: str

    def prepare(self, trials: list[MeasureConfig]) -> None:
        """Check that the trials can run here (devices, cluster resources); before any store."""
        ...

    def close(self) -> None:
        """Release what ``prepare`` or ``events`` acquired (idempotent)."""
        ...

    def events(self, trials: list[MeasureConfig], done: set[tuple[str, int]]) -> Iterator[Event]:
        """Run the windows of ``trials`` not in ``done``; yield events as they happen."""
        ...


def todo_windows(cfg: MeasureConfig, done: set[tuple[str, int]]) -> list[int]:
    key = cfg.trial_key()
    return [i for i in range(cfg.repeats) if (key, i) not in done]


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


# -- local ----------------------------------------------------------------------------------
class LocalExecutor:
    """The trials one after another in this process, one backend per measurement setting."""

    name = "local"

    def prepare(self, trials: list[MeasureConfig]) -> None:
        if any(c.device.startswith("cuda") for c in trials):
            from measure.runners import check_device

            for cfg in trials:
                check_device(cfg.device)

    def close(self) -> None:
        pass

    def events(self, trials: list[MeasureConfig], done: set[tuple[str, int]]) -> Iterator[Event]:
        from measure.backends import backend_key, make_backend_for
        from measure.run import iter_trial

        backends: dict[tuple, Any] = {}  # one backend (one codecarbon tracker) per setting
        try:
            for cfg in trials:
                if not todo_windows(cfg, done):
                    continue
                yield Event("start", cfg)
                bkey = backend_key(cfg)
                if bkey not in backends:
                    backends[bkey] = make_backend_for(cfg)
                try:
                    for rec in iter_trial(cfg, backend=backends[bkey], done=done):
                        yield Event("record", cfg, record=rec)
                except (MeasureError, KeyboardInterrupt):
                    raise
                except Exception as e:  # noqa: BLE001 - a failed window: its record was yielded; go on
                    yield Event("failed", cfg, error=_error_text(e))
        finally:
            for b in backends.values():
                b.close()


# -- ray ------------------------------------------------------------------------------------
def ray_trial(cfg: MeasureConfig, todo: list[int],
              after_record: Callable[[MeasureConfig, dict[str, Any]], None] | None = None
              ) -> Iterator[dict[str, Any]]:
    """The body of one Ray task (runs on the worker): the windows ``todo`` of ``cfg``.

    Yields ``{"record": rec}`` per closed window, then ``{"error": msg, "user_error": bool,
    "host": hostname}`` if the trial stopped. A trial's own exception is reported, not
    raised, so Ray retries only a dead worker (a system failure), never a failed trial.
    ``after_record`` is a test hook called on the worker after each record is yielded.
    """
    import ray

    ctx = ray.get_runtime_context()
    where = {"executor": "ray", "node_id": ctx.get_node_id(), "worker_pid": os.getpid(),
             "task_id": ctx.get_task_id(), "accelerator_ids": ctx.get_accelerator_ids().get("GPU", [])}
    try:
        import torch

        from measure.run import iter_trial

        # Ray sets OMP_NUM_THREADS for a worker's first task only; a reused worker keeps the
        # threads of the task that started it. Use exactly the CPUs this task was given.
        cpus = ctx.get_assigned_resources().get("CPU")
        if cpus:
            torch.set_num_threads(max(1, int(cpus)))
        if cfg.device.startswith("cuda"):
            from measure.runners import check_device

            check_device(cfg.device)
        key = cfg.trial_key()
        done = {(key, i) for i in range(cfg.repeats) if i not in set(todo)}
        for rec in iter_trial(cfg, done=done):
            rec["metadata"]["ray"] = where
            yield {"record": rec}
            if after_record is not None:
                after_record(cfg, rec)
    except MeasureError as e:
        yield {"error": str(e), "user_error": True, "host": socket.gethostname()}
    except Exception as e:  # noqa: BLE001 - reported to the driver as a failed trial
        yield {"error": _error_text(e), "user_error": False, "host": socket.gethostname()}


def import_ray():
    """``ray``, or a MeasureError saying which extra to install."""
    try:
        import ray
    except ImportError:
        raise MeasureError(f"--executor ray needs Ray; {CLUSTER_HINT}", "executor") from None
    return ray


class RayExecutor:
    """One Ray task per trial, on a cluster at ``address`` or on a local Ray started here.

    ``address`` None starts a local Ray instance (``num_cpus`` CPUs, default all) and stops
    it at the end; ``"auto"`` or ``"HOST:6379"`` connects to a running cluster. If Ray is
    already initialised in this process, that instance is used and left running.
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_trial: float = 1,
                 max_retries: int = 3, num_cpus: int | None = None,
                 after_record: Callable[[MeasureConfig, dict[str, Any]], None] | None = None,
                 poll_s: float = 0.5) -> None:
        if cpus_per_trial <= 0:
            raise MeasureError("must be > 0", "--cpus-per-trial")
        self.address = address
        self.cpus_per_trial = cpus_per_trial
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self.after_record = after_record
        self.poll_s = poll_s
        self.started_here = False
        self.startup_s: float | None = None
        self.pending: dict[Any, MeasureConfig] = {}  # generator -> trial, while running
        self.reaper: Any = None  # the watcher that stops a local Ray if this driver is killed

    def prepare(self, trials: list[MeasureConfig]) -> None:
        """Refuse what cannot run on Ray, connect (or start a local Ray) and check resources."""
        for c in trials:
            if c.device.startswith("cuda:") and c.device != "cuda:0":
                raise MeasureError("on --executor ray use device 'cuda' (Ray gives each GPU trial "
                                   "one GPU, which the task sees as cuda:0)", f"device {c.device}")
        ray = self._connect()
        self._check_resources(ray, trials)

    def _reachable(self) -> None:
        """A HOST:PORT that nothing answers on is an error now, not a hang in ray.init."""
        addr = self.address or ""
        if "://" in addr or ":" not in addr:
            return  # "auto" fails fast by itself; ray:// is Ray Client's
        host, _, port = addr.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as e:
            raise MeasureError(f"no Ray cluster answers there ({e}); start one with `ray start "
                               "--head` (docs/cluster.md)", f"--address {addr}") from None

    def _connect(self):
        ray = import_ray()
        if ray.is_initialized():
            return ray
        self._reachable()
        t0 = time.perf_counter()
        kw: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        if self.address:
            kw["address"] = self.address
        else:
            kw.update(num_cpus=self.num_cpus, include_dashboard=False)
            # the local Ray is this driver's: if the driver is killed, stop all of it
            # (Ray's agents otherwise outlive it by about a minute; measure/reaper.py)
            from measure import reaper

            self.reaper = reaper.start(exclude=reaper.children())
        try:
            ray.init(**kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            self._stop_reaper()
            where = f"--address {self.address}" if self.address else "local Ray"
            raise MeasureError(f"cannot start or reach Ray: {e}", where) from None
        self.started_here = True
        self.startup_s = time.perf_counter() - t0
        return ray

    def _check_resources(self, ray, trials: list[MeasureConfig]) -> None:
        res = ray.cluster_resources()
        if any(c.device.startswith("cuda") for c in trials) and res.get("GPU", 0) < 1:
            raise MeasureError("the Ray cluster has no GPUs for the CUDA trials (start the workers "
                               "with GPUs, or run with --device cpu)", "executor ray")
        per_node = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
        if max(per_node, default=0) < self.cpus_per_trial:
            raise MeasureError(f"no Ray node has {self.cpus_per_trial:g} CPUs for a trial "
                               f"(largest: {max(per_node, default=0):g})", "--cpus-per-trial")

    def close(self) -> None:
        ray = import_ray()
        for gen in self.pending:
            try:
                ray.cancel(gen, force=True)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self.pending = {}
        if self.started_here and ray.is_initialized():
            ray.shutdown()
        self.started_here = False
        self._stop_reaper()

    def _stop_reaper(self) -> None:
        """After a clean shutdown the watcher has nothing to do: stop it."""
        if self.reaper is not None:
            self.reaper.terminate()
            self.reaper.wait()
            self.reaper = None

    def events(self, trials: list[MeasureConfig], done: set[tuple[str, int]]) -> Iterator[Event]:
        ray = self._connect()  # normally done by prepare()
        pending = self.pending
        try:
            task = ray.remote(ray_trial)
            for cfg in trials:
                todo = todo_windows(cfg, done)
                if not todo:
                    continue
                opts: dict[str, Any] = {"num_cpus": self.cpus_per_trial}
                if cfg.device.startswith("cuda"):
                    opts["num_gpus"] = 1
                gen = task.options(max_retries=self.max_retries, retry_exceptions=False,
                                   runtime_env={"env_vars": dict(WORKER_ENV)},
                                   name=f"wattcast:{cfg.task}:{cfg.model}:{cfg.trial_key()}",
                                   **opts).remote(cfg, todo, self.after_record)
                pending[gen] = cfg
                yield Event("start", cfg)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.poll_s)
                for gen in ready:
                    cfg = pending[gen]
                    try:
                        item = ray.get(next(gen))
                    except StopIteration:
                        del pending[gen]
                        continue
                    except ray.exceptions.RayError as e:  # the worker died more than max_retries times
                        del pending[gen]
                        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        if "No module named 'measure'" in str(e):
                            msg = ("a Ray worker cannot import wattcast: install wattcast[measure] "
                                   "on every node")
                        yield Event("failed", cfg, error=f"{type(e).__name__}: {msg}")
                        continue
                    if "record" in item:
                        yield Event("record", cfg, record=item["record"])
                    elif item.get("user_error"):
                        raise MeasureError(item["error"], f"ray node {item['host']}")
                    else:
                        del pending[gen]
                        yield Event("failed", cfg, error=f"{item['error']} (on {item['host']})")
        finally:
            self.close()


def make_executor(name: str, address: str | None = None, cpus_per_trial: float = 1) -> Executor:
    if name == "local":
        if address:
            raise MeasureError("--address needs --executor ray", "--address")
        return LocalExecutor()
    if name == "ray":
        import_ray()
        return RayExecutor(address=address, cpus_per_trial=cpus_per_trial)
    raise MeasureError(f"unknown executor {name!r}; use local or ray", "--executor")

"""A simulated pynvml with a simulated CUDA stream, for testing measure/backends.py without a GPU.

What makes it realistic enough to catch measurement bugs:

- **energy follows time and load**: each GPU draws ``idle_w`` when idle and ``busy_w`` while
  kernels run; kernels are launched asynchronously (:meth:`SimNVML.launch` returns at once,
  as a CUDA launch does) and run back to back on one stream, so work is only finished after
  :meth:`SimNVML.synchronize`. A window closed before synchronising misses the queued work.
- **stale readings**: the energy counter and the power reading are refreshed only every
  ``update_s`` (about 100 ms on real GPUs), so a window shorter than a few updates is wrong.
- **counter reset**: :meth:`SimNVML.reset` restarts a GPU's counter from zero (a driver
  reload), as a real reset does.
- **identity**: GPUs have UUIDs and names; ``nvmlDeviceGetHandleByUUID`` works; a GPU can
  be MIG-enabled with MIG device handles (``MIG-`` UUIDs) on which energy is not supported.
- **throttling**: with ``power_capped`` (or ``thermal_capped``) the violation counter
  (``nvmlDeviceGetViolationStatus``) accumulates while the GPU is busy.
- **init count**: ``inited`` counts ``nvmlInit`` minus ``nvmlShutdown``; a backend that is
  closed (or refused) leaves it at 0.

Time is ``time.perf_counter`` (the clock the backends use).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_NotFound(NVMLError):
    pass


def sim_uuid(i: int, prefix: str = "GPU") -> str:
    h = f"{i + 1:08x}"
    return f"{prefix}-{h}-{(i * 7919) % 65536:04x}-4{i % 4096:03x}-8000-{(i * 104729) % 16**12:012x}"


@dataclass
class SimGPU:
    index: int
    name: str = "NVIDIA H100 80GB HBM3"
    idle_w: float = 70.0
    busy_w: float = 500.0
    limit_w: float = 700.0
    has_counter: bool = True
    mig: bool = False
    power_capped: bool = False
    thermal_capped: bool = False
    boot_counter_mj: int = 5_000_000
    uuid: str = ""
    mig_uuids: list[str] = field(default_factory=list)
    busy: list[list[float]] = field(default_factory=list)  # [start, end] intervals, in order
    t0: float = 0.0
    reset_at: float | None = None

    def busy_before(self, t: float) -> float:
        """Seconds busy between t0 and t."""
        return sum(max(0.0, min(e, t) - s) for s, e in self.busy if s < t)

    def energy_j(self, t: float) -> float:
        """True energy since boot (J) at time t."""
        return self.idle_w * (t - self.t0) + (self.busy_w - self.idle_w) * self.busy_before(t)


@dataclass
class Handle:
    gpu: SimGPU
    mig: str | None = None  # MIG device UUID for a MIG device handle


class SimNVML:
    """Drop-in for the pynvml module (the subset the backends use), plus a CUDA-like stream."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVML_PERF_POLICY_POWER = 0
    NVML_PERF_POLICY_THERMAL = 1

    def __init__(self, n: int = 1, update_s: float = 0.1, names: list[str] | None = None, **gpu_kw) -> None:
        now = time.perf_counter()
        self.update_s = update_s
        self.gpus = []
        for i in range(n):
            g = SimGPU(index=i, name=(names[i] if names else SimGPU.name), uuid=sim_uuid(i), t0=now, **gpu_kw)
            if g.mig:
                g.mig_uuids = [sim_uuid(100 + 10 * i + k, "MIG") for k in range(2)]
            self.gpus.append(g)
        self.inited = 0
        self.calls: list[str] = []
        self._tick0 = now

    # -- the simulated CUDA stream --------------------------------------------------------
    def launch(self, seconds: float, gpu: int = 0) -> None:
        """Queue a kernel of ``seconds`` on ``gpu``; returns at once (asynchronous)."""
        g = self.gpus[gpu]
        now = time.perf_counter()
        if g.busy and g.busy[-1][1] >= now:
            g.busy[-1][1] += seconds  # runs right after the queued work
        else:
            g.busy.append([now, now + seconds])

    def synchronize(self, gpu: int = 0) -> None:
        """Block until ``gpu``'s queued kernels are done (torch.cuda.synchronize)."""
        g = self.gpus[gpu]
        if g.busy:
            wait = g.busy[-1][1] - time.perf_counter()
            if wait > 0:
                time.sleep(wait)

    def reset(self, gpu: int = 0) -> None:
        """Driver reload / GPU reset: the energy counter restarts from zero."""
        self.gpus[gpu].reset_at = time.perf_counter()

    def true_energy_j(self, gpu: int, t0: float, t1: float) -> float:
        g = self.gpus[gpu]
        return g.energy_j(t1) - g.energy_j(t0)

    # -- helpers --------------------------------------------------------------------------
    def _tick(self, t: float) -> float:
        """The time of the last counter update at or before t."""
        return self._tick0 + math.floor((t - self._tick0) / self.update_s) * self.update_s

    def _gpu(self, h: Handle) -> SimGPU:
        if not isinstance(h, Handle):
            raise NVMLError("invalid handle")
        return h.gpu

    # -- pynvml API -----------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.inited += 1

    def nvmlShutdown(self) -> None:
        self.inited -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> Handle:
        if not 0 <= i < len(self.gpus):
            raise NVMLError("invalid argument")
        return Handle(self.gpus[i])

    def nvmlDeviceGetHandleByUUID(self, uuid) -> Handle:
        uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
        for g in self.gpus:
            if g.uuid == uuid:
                return Handle(g)
            if uuid in g.mig_uuids:
                return Handle(g, mig=uuid)
        raise NVMLError_NotFound("not found")

    def nvmlDeviceGetUUID(self, h: Handle) -> str:
        return h.mig or self._gpu(h).uuid

    def nvmlDeviceGetName(self, h: Handle) -> str:
        return self._gpu(h).name + (" MIG 3g.40gb" if h.mig else "")

    def nvmlDeviceGetMigMode(self, h: Handle):
        g = self._gpu(h)
        if h.mig:
            raise NVMLError_NotSupported("MIG device handle")
        return (1, 1) if g.mig else (0, 0)

    def nvmlDeviceIsMigDeviceHandle(self, h: Handle) -> bool:
        return h.mig is not None

    def nvmlDeviceGetTotalEnergyConsumption(self, h: Handle) -> int:
        g = self._gpu(h)
        self.calls.append("energy")
        if h.mig or not g.has_counter:
            raise NVMLError_NotSupported("not supported")
        tick = self._tick(time.perf_counter())
        if g.reset_at is not None and tick >= g.reset_at:
            return int(1000 * (g.energy_j(tick) - g.energy_j(g.reset_at)))
        return g.boot_counter_mj + int(1000 * g.energy_j(tick))

    def nvmlDeviceGetPowerUsage(self, h: Handle) -> int:
        """mW, averaged over the last completed update period."""
        g = self._gpu(h)
        if h.mig:
            raise NVMLError_NotSupported("not supported")
        tick = self._tick(time.perf_counter())
        return int(1000 * (g.energy_j(tick) - g.energy_j(tick - self.update_s)) / self.update_s)

    def nvmlDeviceGetEnforcedPowerLimit(self, h: Handle) -> int:
        return int(self._gpu(h).limit_w * 1000)

    def nvmlDeviceGetViolationStatus(self, h: Handle, policy: int):
        g = self._gpu(h)
        capped = g.power_capped if policy == self.NVML_PERF_POLICY_POWER else g.thermal_capped
        now = time.perf_counter()
        ns = int(g.busy_before(now) * 1e9) if capped else 0
        return SimpleNamespace(referenceTime=int(now * 1e6), violationTime=ns)

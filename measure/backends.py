"""Energy backends behind one interface: ``begin() -> token``, ``end(token) -> Reading``.

- :class:`NVMLBackend`: each GPU's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  mJ since driver load, Volta and later) where the card has one; power polling
  (``nvmlDeviceGetPowerUsage``, mW) integrated with the trapezoid rule where it does not.
- :class:`CodeCarbonBackend`: CPU, RAM and GPU energy as codecarbon reports them for a task
  (``start_task``/``stop_task``, as the study did with CodeCarbon 2.3.1), offline.
- :class:`CompositeBackend`: GPU from NVML, CPU and RAM from codecarbon.
- :class:`FakeBackend`: scripted cumulative readings (or a constant power), so tests run the
  real window, record and campaign logic with no hardware.

Every reading says which method produced each component: ``counter``, ``integrated-power``,
``estimate`` or ``none``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from measure.errors import MeasureError

COMPONENTS = ("gpu", "cpu", "ram")

#: NVML's energy counter is an unsigned 64-bit count of millijoules.
NVML_COUNTER_MODULUS_MJ = 2**64
#: Below this window length a counter reading is flagged ``short-window``. NVIDIA updates
#: the energy counter and the power reading about every 100 ms on recent GPUs (Zeus docs,
#: "Measuring energy"; Yang et al., "Part-time Power Measurements", 2023), so a window of
#: 1 s or less carries a resolution error of 10 % or more.
COUNTER_MIN_WINDOW_S = 1.0
#: With polled power, a window shorter than this many polling periods is flagged.
POLL_MIN_SAMPLES = 10
#: Average power at or above this fraction of the enforced limit flags ``power-limit-hit``.
POWER_LIMIT_FRACTION = 0.95


@dataclass
class Reading:
    """Energy in joules over one window, by component, with the method behind each number."""

    gpu_j: float | None = None
    cpu_j: float | None = None
    ram_j: float | None = None
    gpu_method: str = "none"
    cpu_method: str = "none"
    ram_method: str = "none"
    flags: list[str] = field(default_factory=list)
    per_gpu_j: dict[str, float] = field(default_factory=dict)

    @property
    def total_j(self) -> float:
        return sum(v for v in (self.gpu_j, self.cpu_j, self.ram_j) if v is not None)

    def merge(self, other: "Reading", take: Iterable[str]) -> "Reading":
        """A copy with the components in ``take`` taken from ``other`` (flags unioned)."""
        out = Reading(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        out.flags = list(self.flags)
        for c in take:
            setattr(out, f"{c}_j", getattr(other, f"{c}_j"))
            setattr(out, f"{c}_method", getattr(other, f"{c}_method"))
        out.flags += [f for f in other.flags if f not in out.flags]
        if "gpu" in take:
            out.per_gpu_j = dict(other.per_gpu_j)
        return out


class EnergyBackend:
    """Base class. Subclasses implement ``begin`` and ``end``; ``close`` frees resources."""

    name = "base"

    def begin(self) -> Any:
        raise NotImplementedError

    def end(self, token: Any) -> Reading:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def metadata(self) -> dict[str, Any]:
        return {}

    #: smallest window the backend can resolve well (s); shorter windows are flagged
    min_window_s: float = 0.0
    #: whether windows may nest or overlap (per-phase windows need it)
    supports_nesting: bool = False


# --------------------------------------------------------------------------- fake

class FakeBackend(EnergyBackend):
    """Scripted cumulative readings, or constant power over the real clock.

    ``script`` is a list of snapshots ``{"gpu_j": .., "cpu_j": .., "ram_j": ..}`` of
    cumulative joules; each ``begin`` and ``end`` consumes the next one, so a window's
    energy is the difference of two consecutive snapshots. A component absent from the
    snapshots is reported as ``None`` with method ``none``. With ``power_w`` instead, each
    component draws that constant power over the window's real duration. ``methods`` sets
    the method label reported for each component (default: counter for GPU, estimate for
    CPU and RAM, like a GPU box with codecarbon for the host).
    """

    name = "fake"

    def __init__(self, script: Sequence[dict[str, float]] | None = None,
                 power_w: dict[str, float] | None = None,
                 methods: dict[str, str] | None = None,
                 flags: Sequence[str] = (), min_window_s: float = 0.0) -> None:
        if script is None and power_w is None:
            power_w = {"gpu": 300.0, "cpu": 42.5, "ram": 20.0}
        self._script = list(script) if script is not None else None
        self._pos = 0
        self.power_w = dict(power_w or {})
        self.methods = {"gpu": "counter", "cpu": "estimate", "ram": "estimate", **(methods or {})}
        self.extra_flags = list(flags)
        self.min_window_s = min_window_s
        self.supports_nesting = self._script is None  # scripted readings are consumed in order
        self.calls: list[str] = []

    def _next(self) -> dict[str, float]:
        assert self._script is not None
        if self._pos >= len(self._script):
            raise RuntimeError(f"fake backend script exhausted after {self._pos} readings")
        snap = self._script[self._pos]
        self._pos += 1
        return snap

    def begin(self) -> Any:
        self.calls.append("begin")
        if self._script is not None:
            return self._next()
        return time.perf_counter()

    def end(self, token: Any) -> Reading:
        self.calls.append("end")
        r = Reading(flags=list(self.extra_flags))
        if self._script is not None:
            snap = self._next()
            for c in COMPONENTS:
                key = f"{c}_j"
                if key in snap and key in token:
                    setattr(r, key, float(snap[key]) - float(token[key]))
                    setattr(r, f"{c}_method", self.methods[c])
        else:
            dt = time.perf_counter() - token
            for c in COMPONENTS:
                if c in self.power_w:
                    setattr(r, f"{c}_j", self.power_w[c] * dt)
                    setattr(r, f"{c}_method", self.methods[c])
        if r.gpu_j is not None:
            r.per_gpu_j = {"0": r.gpu_j}
        return r

    def metadata(self) -> dict[str, Any]:
        return {"backend": "fake", "fake_power_w": self.power_w or None,
                "fake_scripted": self._script is not None}


# --------------------------------------------------------------------------- NVML

def _import_pynvml():
    try:
        import pynvml  # provided by nvidia-ml-py
    except ImportError:
        raise MeasureError("NVML is not available: install nvidia-ml-py (the [measure] extra)",
                           "backend nvml") from None
    return pynvml


class _PowerPoller:
    """Polls power (W) of the given handles in a thread; trapezoid-integrates per handle."""

    def __init__(self, nvml, handles: dict[str, Any], interval_s: float) -> None:
        self.nvml, self.handles, self.interval_s = nvml, handles, interval_s
        self.samples: dict[str, list[tuple[float, float]]] = {k: [] for k in handles}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wattcast-nvml-poll", daemon=True)

    def _sample(self) -> None:
        t = time.perf_counter()
        for k, h in self.handles.items():
            self.samples[k].append((t, self.nvml.nvmlDeviceGetPowerUsage(h) / 1000.0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> "_PowerPoller":
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return {k: integrate_power(s) for k, s in self.samples.items()}


def integrate_power(samples: Sequence[tuple[float, float]]) -> float:
    """Trapezoid integral (J) of (time s, power W) samples."""
    e = 0.0
    for (t0, p0), (t1, p1) in zip(samples, samples[1:]):
        e += (t1 - t0) * (p0 + p1) / 2.0
    return e


def counter_delta_mj(start: int, end: int, modulus: int = NVML_COUNTER_MODULUS_MJ) -> tuple[int, bool]:
    """Counter difference in mJ; a smaller end value is taken as one wrap-around."""
    if end >= start:
        return end - start, False
    return end + modulus - start, True


class NVMLBackend(EnergyBackend):
    """GPU energy from NVML for ``gpu_indices`` (or every GPU with ``whole_node``).

    ``nvml`` may be passed in (tests pass a mock of pynvml). CPU and RAM are not measured
    (method ``none``); use :class:`CompositeBackend` for those.
    """

    name = "nvml"
    supports_nesting = True

    def __init__(self, gpu_indices: Sequence[int] = (0,), whole_node: bool = False,
                 poll_interval_s: float = 0.1, nvml: Any = None) -> None:
        self.nvml = nvml or _import_pynvml()
        try:
            self.nvml.nvmlInit()
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            raise MeasureError(f"NVML could not start ({e}); is an NVIDIA driver installed?",
                               "backend nvml") from None
        count = self.nvml.nvmlDeviceGetCount()
        if whole_node:
            gpu_indices = range(count)
        bad = [i for i in gpu_indices if i >= count]
        if bad:
            raise MeasureError(f"GPU index {bad[0]} not present (NVML sees {count} GPUs)", "device")
        self.whole_node = whole_node
        self.used_indices = list(gpu_indices)
        self.handles = {str(i): self.nvml.nvmlDeviceGetHandleByIndex(i) for i in self.used_indices}
        self.poll_interval_s = poll_interval_s
        self.has_counter: dict[str, bool] = {}
        for k, h in self.handles.items():
            try:
                self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)
                self.has_counter[k] = True
            except Exception:  # NVMLError_NotSupported on pre-Volta cards
                self.has_counter[k] = False
        self.min_window_s = (COUNTER_MIN_WINDOW_S if all(self.has_counter.values())
                             else max(COUNTER_MIN_WINDOW_S, POLL_MIN_SAMPLES * poll_interval_s))

    def _limit_w(self, h) -> float | None:
        try:
            return self.nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
        except Exception:
            return None

    def begin(self) -> Any:
        counters = {k: self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)
                    for k, h in self.handles.items() if self.has_counter[k]}
        poll = {k: h for k, h in self.handles.items() if not self.has_counter[k]}
        poller = _PowerPoller(self.nvml, poll, self.poll_interval_s).start() if poll else None
        return {"t": time.perf_counter(), "counters": counters, "poller": poller}

    def end(self, token: Any) -> Reading:
        dt = time.perf_counter() - token["t"]
        per: dict[str, float] = {}
        flags: list[str] = []
        for k, start in token["counters"].items():
            now = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handles[k])
            delta, wrapped = counter_delta_mj(int(start), int(now))
            if wrapped:
                flags.append("counter-wrapped")
            per[k] = delta / 1000.0
        if token["poller"] is not None:
            per.update(token["poller"].stop())
        methods = {"counter" if self.has_counter[k] else "integrated-power" for k in per}
        r = Reading(gpu_j=sum(per.values()), per_gpu_j=per,
                    gpu_method="counter" if methods == {"counter"} else "integrated-power",
                    flags=sorted(set(flags)))
        # power limit: average power near the enforced limit, or the driver says it capped clocks
        for k, h in self.handles.items():
            limit = self._limit_w(h)
            avg = per[k] / dt if dt > 0 else 0.0
            capped = False
            try:
                # "clocks event reasons" is the newer name of the same NVML call
                get = (getattr(self.nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
                       or self.nvml.nvmlDeviceGetCurrentClocksThrottleReasons)
                reasons = get(h)
                mask = getattr(self.nvml, "nvmlClocksThrottleReasonSwPowerCap", 0x4) | \
                    getattr(self.nvml, "nvmlClocksThrottleReasonHwPowerBrakeSlowdown", 0x80)
                capped = bool(int(reasons) & int(mask))
            except Exception:
                pass
            near_limit = bool(limit) and dt >= self.min_window_s and avg >= POWER_LIMIT_FRACTION * limit
            if capped or near_limit:
                if "power-limit-hit" not in r.flags:
                    r.flags.append("power-limit-hit")
        if self.whole_node and len(self.handles) > 1:
            r.flags.append("idle-gpus-included")
        return r

    def metadata(self) -> dict[str, Any]:
        def s(x: Any) -> Any:
            return x.decode() if isinstance(x, bytes) else x

        gpus = []
        for k, h in self.handles.items():
            g: dict[str, Any] = {"index": int(k), "energy_counter": self.has_counter[k]}
            for key, fn in (("name", "nvmlDeviceGetName"), ("uuid", "nvmlDeviceGetUUID")):
                try:
                    g[key] = s(getattr(self.nvml, fn)(h))
                except Exception:
                    pass
            g["power_limit_w"] = self._limit_w(h)
            gpus.append(g)
        meta: dict[str, Any] = {"gpus": gpus, "gpu_indices": self.used_indices,
                                "whole_node": self.whole_node}
        try:
            meta["driver"] = s(self.nvml.nvmlSystemGetDriverVersion())
        except Exception:
            pass
        return meta

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


# --------------------------------------------------------------------------- codecarbon

class CodeCarbonBackend(EnergyBackend):
    """CPU, RAM and GPU energy as codecarbon reports them (offline, no files, quiet).

    One tracker is started for the backend's lifetime; each window is a codecarbon task
    (``start_task``/``stop_task``), as the study measured its ``query model`` task. Its CPU
    energy is RAPL (``counter``) only where codecarbon reads RAPL; otherwise it is
    codecarbon's estimate from TDP and load (``estimate``, flagged ``cpu-estimated``). RAM
    energy is always codecarbon's per-GB estimate.
    """

    name = "codecarbon"

    def __init__(self, country_iso_code: str = "USA", measure_power_secs: float = 1.0,
                 gpu_ids: Sequence[int] | None = None, output_dir: str | None = None,
                 whole_node: bool = False) -> None:
        self.whole_node = whole_node
        import os

        os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            raise MeasureError("codecarbon is not installed", "backend codecarbon") from None
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        kwargs: dict[str, Any] = dict(
            country_iso_code=country_iso_code, save_to_file=False, save_to_api=False,
            log_level="error", measure_power_secs=measure_power_secs,
            tracking_mode="machine", allow_multiple_runs=True, project_name="wattcast")
        if output_dir:
            kwargs["output_dir"] = output_dir
        if gpu_ids is not None:
            kwargs["gpu_ids"] = list(gpu_ids)
        import warnings

        with warnings.catch_warnings():
            # codecarbon 3 deprecates save_to_*; output_methods=[] would fall back to CSV,
            # and save_to_file=False is what works from 2.3.1 (the study's) to 3.x
            warnings.simplefilter("ignore", DeprecationWarning)
            self.tracker = OfflineEmissionsTracker(**kwargs)
        self.tracker.start()
        self._n = 0
        # codecarbon reads power at the start and end of a task: windows shorter than its
        # sampling interval are flagged
        self.min_window_s = measure_power_secs
        hw = {type(h).__name__: h for h in getattr(self.tracker, "_hardware", [])}
        cpu = hw.get("CPU")
        mode = str(getattr(cpu, "_mode", "")) if cpu is not None else ""
        self.cpu_mode = mode or "unknown"
        self.cpu_method = "counter" if "rapl" in mode.lower() or "power_gadget" in mode.lower() else "estimate"
        self.has_gpu = "GPU" in hw

    def begin(self) -> Any:
        self._n += 1
        name = f"w{self._n}"
        self.tracker.start_task(name)
        return name

    def end(self, token: Any) -> Reading:
        d = self.tracker.stop_task(token)
        kwh = 3.6e6
        r = Reading(cpu_j=float(d.cpu_energy) * kwh, ram_j=float(d.ram_energy) * kwh,
                    cpu_method=self.cpu_method, ram_method="estimate")
        if self.has_gpu:
            r.gpu_j, r.gpu_method = float(d.gpu_energy) * kwh, "counter"
            if self.whole_node:
                r.flags.append("idle-gpus-included")
        if self.cpu_method == "estimate":
            r.flags.append("cpu-estimated")
        r.flags.append("ram-estimated")
        return r

    def metadata(self) -> dict[str, Any]:
        import codecarbon

        return {"codecarbon_version": codecarbon.__version__, "codecarbon_cpu_mode": self.cpu_mode}

    def close(self) -> None:
        try:
            self.tracker.stop()
        except Exception:
            pass


class CompositeBackend(EnergyBackend):
    """GPU from one backend (NVML), CPU and RAM from another (codecarbon)."""

    def __init__(self, gpu: EnergyBackend, host: EnergyBackend) -> None:
        self.gpu, self.host = gpu, host
        self.name = f"{gpu.name}+{host.name}"
        self.min_window_s = max(gpu.min_window_s, host.min_window_s)

    def begin(self) -> Any:
        return (self.host.begin(), self.gpu.begin())

    def end(self, token: Any) -> Reading:
        g = self.gpu.end(token[1])
        h = self.host.end(token[0])
        return g.merge(h, take=("cpu", "ram"))

    def metadata(self) -> dict[str, Any]:
        return {**self.host.metadata(), **self.gpu.metadata()}

    def close(self) -> None:
        self.gpu.close()
        self.host.close()


def nvml_index(cuda_index: int) -> int:
    """NVML (physical) index of CUDA device ``cuda_index`` under ``CUDA_VISIBLE_DEVICES``.

    NVML ignores ``CUDA_VISIBLE_DEVICES``; with ``CUDA_VISIBLE_DEVICES=3,5``, ``cuda:1`` is
    NVML device 5. UUID or MIG entries are not mapped (the CUDA index is used as is).
    """
    import os

    vis = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if not vis:
        return cuda_index
    parts = [p.strip() for p in vis.split(",") if p.strip()]
    if all(p.isdigit() for p in parts) and cuda_index < len(parts):
        return int(parts[cuda_index])
    return cuda_index


def make_backend(name: str, device: str, whole_node: bool = False, country_iso_code: str = "USA",
                 measure_power_secs: float = 1.0, nvml: Any = None) -> EnergyBackend:
    """The backend a config asks for; a GPU backend on a CPU run is a MeasureError."""
    idx = [nvml_index(int(device.split(":")[1]) if device.startswith("cuda:") else 0)]
    if name == "fake":
        return FakeBackend()
    if name in ("nvml", "nvml+codecarbon") and device == "cpu":
        raise MeasureError(f"backend {name!r} measures GPUs; use --backend codecarbon with --device cpu",
                           "backend")
    if name == "nvml":
        return NVMLBackend(idx, whole_node=whole_node, nvml=nvml,
                           poll_interval_s=min(0.1, measure_power_secs))
    gpu_ids = None if (whole_node or device == "cpu") else idx
    if name == "codecarbon":
        return CodeCarbonBackend(country_iso_code, measure_power_secs, gpu_ids=gpu_ids, whole_node=whole_node)
    if name == "nvml+codecarbon":
        g = NVMLBackend(idx, whole_node=whole_node, nvml=nvml, poll_interval_s=min(0.1, measure_power_secs))
        try:
            # codecarbon would also read the GPUs; the composite takes only CPU and RAM from it
            h = CodeCarbonBackend(country_iso_code, measure_power_secs, gpu_ids=gpu_ids)
        except BaseException:
            g.close()
            raise
        return CompositeBackend(g, h)
    raise MeasureError(f"unknown backend {name!r}", "backend")

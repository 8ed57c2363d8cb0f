"""Energy backends behind one interface: ``begin() -> token``, ``end(token) -> Reading``.

- :class:`NVMLBackend`: each GPU's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``,
  mJ since driver load, Volta and later) where the card has one; power polling
  (``nvmlDeviceGetPowerUsage``, mW) integrated with the trapezoid rule where it does not.
- :class:`CodeCarbonBackend`: CPU, RAM and GPU energy as codecarbon reports them for a task
  (``start_task``/``stop_task``, as the study did with CodeCarbon 2.3.1), offline.
- :class:`CompositeBackend`: GPU from NVML, CPU and RAM from codecarbon.
- :class:`ZeusBackend`: GPU (and, where readable, CPU/DRAM RAPL) energy from Zeus's
  ``ZeusMonitor`` (optional ``zeus`` extra), to cross-check the NVML backend.
- :class:`FakeBackend`: scripted cumulative readings (or a constant power), so tests run the
  real window, record and campaign logic with no hardware.

A CUDA device is matched to its NVML device by UUID (:func:`resolve_gpu`), never by index
alone: NVML numbers GPUs in PCI bus order and ignores ``CUDA_VISIBLE_DEVICES``.

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
from project.records import J_PER_KWH

COMPONENTS = ("gpu", "cpu", "ram")

#: NVML's perf-policy ids for nvmlDeviceGetViolationStatus (nvml.h ``nvmlPerfPolicyType_t``)
NVML_PERF_POLICY_POWER, NVML_PERF_POLICY_THERMAL = 0, 1
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
    #: set when the reading is void (a counter reset): the window fails with this message
    error: str | None = None
    #: seconds each GPU spent throttled during the window, by reason (NVML violation counters)
    throttle_s: dict[str, dict[str, float]] = field(default_factory=dict)

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
        out.error = self.error or other.error
        if "gpu" in take:
            out.per_gpu_j = dict(other.per_gpu_j)
            out.throttle_s = dict(other.throttle_s)
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


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


class _PowerPoller:
    """Polls power (W) of the given handles in a thread; trapezoid-integrates per handle.

    A failed read stops the polling and is kept in :attr:`error`: the integral would otherwise
    bridge the gap with a straight line, a low reading that looks fine.
    """

    def __init__(self, nvml, handles: dict[str, Any], interval_s: float) -> None:
        self.nvml, self.handles, self.interval_s = nvml, handles, interval_s
        self.samples: dict[str, list[tuple[float, float]]] = {k: [] for k in handles}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wattcast-nvml-poll", daemon=True)

    def _sample(self) -> None:
        t = time.perf_counter()
        for k, h in self.handles.items():
            self.samples[k].append((t, self.nvml.nvmlDeviceGetPowerUsage(h) / 1000.0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._sample()
            except Exception as e:  # noqa: BLE001 - kept; end() voids the reading
                self.error = f"NVML power polling failed ({type(e).__name__}: {e})"
                return

    def start(self) -> "_PowerPoller":
        self._sample()
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop the polling thread and wait for it (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def stop(self) -> dict[str, float]:
        """Stop polling; energy (J) per handle. Check :attr:`error`: with it set the
        integrals miss part of the window."""
        self.cancel()
        if self.error is None:
            self._sample()
        return {k: integrate_power(s) for k, s in self.samples.items()}


def integrate_power(samples: Sequence[tuple[float, float]]) -> float:
    """Trapezoid integral (J) of (time s, power W) samples."""
    e = 0.0
    for (t0, p0), (t1, p1) in zip(samples, samples[1:]):
        e += (t1 - t0) * (p0 + p1) / 2.0
    return e


def counter_delta_mj(start: int, end: int) -> int | None:
    """Counter difference in mJ, or None when the counter went backwards.

    NVML's counter is an unsigned 64-bit count of mJ since the driver loaded (1.8e16 J): at
    1 kW it would take about 585 thousand years to wrap. A smaller end value means the driver was reloaded
    or the GPU reset during the window, so the window's GPU energy is unknown.
    """
    return end - start if end >= start else None


# -- which NVML device is the CUDA device? -----------------------------------------------------

MIG_REFUSAL = ("is a MIG slice (or sits on a MIG-enabled GPU): NVML reports energy and power only "
               "for the whole card, every slice and tenant included, so the slice cannot be "
               "measured. Run on a GPU with MIG disabled, or use --whole-node if the whole card "
               "is yours (the record then says idle-gpus-included)")


@dataclass
class GpuTarget:
    """The NVML device behind one CUDA device, and how the match was made."""

    cuda_index: int
    nvml_index: int
    uuid: str | None
    #: ``cuda-uuid`` (the CUDA runtime's UUID), ``visible-uuid`` (a UUID in
    #: CUDA_VISIBLE_DEVICES), ``visible-index`` (a number in CUDA_VISIBLE_DEVICES) or ``index``
    mapped_by: str


def cuda_device_uuid(cuda_index: int) -> str | None:
    """The CUDA runtime's UUID of ``cuda:<cuda_index>`` (after CUDA_VISIBLE_DEVICES), or None."""
    try:
        import torch

        if torch.cuda.is_available() and cuda_index < torch.cuda.device_count():
            return str(torch.cuda.get_device_properties(cuda_index).uuid)
    except Exception:  # noqa: BLE001 - no CUDA runtime: fall back to CUDA_VISIBLE_DEVICES
        return None
    return None


def _is_mig_enabled(nvml, handle) -> bool:
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        return int(current) == 1  # NVML_DEVICE_MIG_ENABLE
    except Exception:  # NotSupported on cards without MIG
        return False


def _is_mig_handle(nvml, handle) -> bool:
    try:
        return bool(nvml.nvmlDeviceIsMigDeviceHandle(handle))
    except Exception:
        return False


def _visible_entries(env: dict[str, str]) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES as CUDA reads it: entries up to the first empty one; None if unset."""
    vis = env.get("CUDA_VISIBLE_DEVICES")
    if vis is None:
        return None
    out = []
    for p in vis.split(","):
        p = p.strip()
        if not p:
            break
        out.append(p)
    return out


def resolve_gpu(nvml, cuda_index: int, cuda_uuid: str | None = None,
                env: dict[str, str] | None = None) -> GpuTarget:
    """The NVML device that ``cuda:<cuda_index>`` runs on.

    With the CUDA runtime's UUID (``torch.cuda.get_device_properties(i).uuid``) the match is
    exact: ``nvmlDeviceGetHandleByUUID``. Without it, ``CUDA_VISIBLE_DEVICES`` is read the way
    CUDA reads it: numbers, ``GPU-`` UUIDs or unique UUID prefixes, up to the first entry it
    cannot use. A number counts devices in ``CUDA_DEVICE_ORDER``: NVML's order is the PCI bus
    order, which is CUDA's only with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or when every GPU is the
    same model (CUDA's default, FASTEST_FIRST, breaks ties by PCI bus id); otherwise the match is
    refused. A MIG slice is refused (:data:`MIG_REFUSAL`).
    """
    import os

    env = os.environ if env is None else env
    where = f"device cuda:{cuda_index}"
    count = int(nvml.nvmlDeviceGetCount())
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    uuids = [_text(nvml.nvmlDeviceGetUUID(h)) for h in handles]

    def target(i: int, how: str) -> GpuTarget:
        if _is_mig_enabled(nvml, handles[i]):
            raise MeasureError(f"NVML GPU {i} ({uuids[i]}) {MIG_REFUSAL}", where)
        return GpuTarget(cuda_index, i, uuids[i], how)

    if cuda_uuid:
        u = cuda_uuid.strip()
        tries = [u] if u.startswith(("GPU-", "MIG-")) else [f"GPU-{u}", f"MIG-{u}"]
        for c in tries:
            if c in uuids:
                return target(uuids.index(c), "cuda-uuid")
        for c in tries:
            try:
                h = nvml.nvmlDeviceGetHandleByUUID(c)
            except Exception:  # noqa: BLE001 - not this spelling
                continue
            if _is_mig_handle(nvml, h) or c.startswith("MIG-"):
                raise MeasureError(f"the CUDA device ({c}) {MIG_REFUSAL}", where)
        raise MeasureError(f"the CUDA device's UUID {u} is not among the {count} GPU(s) NVML sees",
                           where)

    entries = _visible_entries(env)
    mapped_by = "index"
    if entries is None:
        visible = list(range(count))
    else:
        mapped_by = "visible-index"
        visible = []
        for e in entries:
            if e.startswith("MIG-"):
                raise MeasureError(f"CUDA_VISIBLE_DEVICES names {e}, which {MIG_REFUSAL}", where)
            if e.isdigit():
                i = int(e)
                if i >= count:
                    break  # CUDA stops at the first device that does not exist
            else:
                cand = e if e.startswith("GPU-") else f"GPU-{e}"
                hits = [j for j, uu in enumerate(uuids) if uu.startswith(cand)]
                if len(hits) != 1:
                    break  # unknown or ambiguous UUID: CUDA stops here too
                i = hits[0]
                mapped_by = "visible-uuid"
            if i in visible:
                raise MeasureError(f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES')!r} lists "
                                   "a GPU twice: CUDA then sees no GPU", where)
            visible.append(i)
    if cuda_index >= len(visible):
        raise MeasureError(f"CUDA sees {len(visible)} GPU(s) (CUDA_VISIBLE_DEVICES="
                           f"{env.get('CUDA_VISIBLE_DEVICES')!r}, NVML sees {count})", where)
    numeric = entries is None or any(e.isdigit() for e in entries)
    order = env.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST").strip().upper()
    if numeric and order != "PCI_BUS_ID" and count > 1:
        names = {_text(nvml.nvmlDeviceGetName(h)) for h in handles}
        if len(names) > 1:
            raise MeasureError(
                f"GPUs of different models ({', '.join(sorted(names))}) and CUDA_DEVICE_ORDER="
                f"{order}: CUDA numbers them fastest first, NVML by PCI bus, and no CUDA runtime "
                "UUID is available to match them. Set CUDA_DEVICE_ORDER=PCI_BUS_ID or list GPU "
                "UUIDs in CUDA_VISIBLE_DEVICES", where)
    return target(visible[cuda_index], mapped_by)


class NVMLBackend(EnergyBackend):
    """GPU energy from NVML for the given NVML devices (or every GPU with ``whole_node``).

    ``gpus`` lists NVML indices or :class:`GpuTarget` objects (from :func:`resolve_gpu`).
    ``nvml`` may be passed in (tests pass a simulator of pynvml). CPU and RAM are not measured
    (method ``none``); use :class:`CompositeBackend` for those.

    Besides energy, each window reads NVML's violation counters
    (``nvmlDeviceGetViolationStatus``, ns spent below requested clocks because of the power or
    thermal policy) at both ends: a rise flags ``power-limit-hit`` or ``thermal-throttled``.
    """

    name = "nvml"

    def __init__(self, gpus: Sequence[int | GpuTarget] = (0,), whole_node: bool = False,
                 poll_interval_s: float = 0.1, nvml: Any = None) -> None:
        self.nvml = _nvml_started(nvml)
        self._closed = False
        try:  # a refusal (or any failure) below must not leave NVML initialised
            self._set_up(gpus, whole_node, poll_interval_s)
        except BaseException:
            self.close()
            raise

    def _set_up(self, gpus: Sequence[int | GpuTarget], whole_node: bool, poll_interval_s: float) -> None:
        count = self.nvml.nvmlDeviceGetCount()
        targets = [g if isinstance(g, GpuTarget) else GpuTarget(-1, int(g), None, "index") for g in gpus]
        if whole_node:
            targets = [GpuTarget(-1, i, None, "whole-node") for i in range(count)]
        if not targets:
            raise MeasureError("no GPU to measure", "device")
        bad = [t.nvml_index for t in targets if t.nvml_index >= count]
        if bad:
            raise MeasureError(f"GPU index {bad[0]} not present (NVML sees {count} GPUs)", "device")
        self.whole_node = whole_node
        self.targets = targets
        self.used_indices = [t.nvml_index for t in targets]
        self.handles = {str(i): self.nvml.nvmlDeviceGetHandleByIndex(i) for i in self.used_indices}
        self.poll_interval_s = poll_interval_s
        self.has_counter: dict[str, bool] = {}
        for k, h in self.handles.items():
            try:
                self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)
                self.has_counter[k] = True
            except Exception:  # NVMLError_NotSupported on pre-Volta cards
                self.has_counter[k] = False
        self.has_violation_counters = self._violations(next(iter(self.handles.values()))) is not None
        self.min_window_s = (COUNTER_MIN_WINDOW_S if all(self.has_counter.values())
                             else max(COUNTER_MIN_WINDOW_S, POLL_MIN_SAMPLES * poll_interval_s))

    def _limit_w(self, h) -> float | None:
        try:
            return self.nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
        except Exception:
            return None

    def _violations(self, h) -> dict[str, int] | None:
        """Cumulative ns throttled by the power and the thermal policy, or None if unsupported."""
        try:
            return {"power": int(self.nvml.nvmlDeviceGetViolationStatus(h, NVML_PERF_POLICY_POWER).violationTime),
                    "thermal": int(self.nvml.nvmlDeviceGetViolationStatus(h, NVML_PERF_POLICY_THERMAL).violationTime)}
        except Exception:  # NotSupported on some boards and drivers
            return None

    def begin(self) -> Any:
        viol = {k: self._violations(h) for k, h in self.handles.items()} if self.has_violation_counters else {}
        counters = {k: self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)
                    for k, h in self.handles.items() if self.has_counter[k]}
        poll = {k: h for k, h in self.handles.items() if not self.has_counter[k]}
        poller = _PowerPoller(self.nvml, poll, self.poll_interval_s).start() if poll else None
        return {"t": time.perf_counter(), "counters": counters, "poller": poller, "violations": viol}

    def end(self, token: Any) -> Reading:
        # the energy counters first, as close to the end of the work as possible
        poller = token["poller"]
        try:
            now = {k: self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handles[k]) for k in token["counters"]}
        except BaseException:
            if poller is not None:  # a lost GPU must not leave the polling thread running
                poller.cancel()
            raise
        dt = time.perf_counter() - token["t"]
        per: dict[str, float] = {}
        flags: list[str] = []
        errors: list[str] = []
        for k, start in token["counters"].items():
            delta = counter_delta_mj(int(start), int(now[k]))
            if delta is None:
                errors.append(f"NVML energy counter of GPU {k} went backwards ({int(start)} -> "
                              f"{int(now[k])} mJ): the driver was reloaded or the GPU reset during "
                              "the window, so its energy is unknown")
                continue
            per[k] = delta / 1000.0
        if errors:
            flags.append("counter-reset")
        if poller is not None:
            per.update(poller.stop())
            if poller.error:
                errors.append(f"{poller.error}: the GPU energy of the window is unknown")
        methods = {"counter" if self.has_counter[k] else "integrated-power" for k in self.handles}
        r = Reading(gpu_j=None if errors else sum(per.values()), per_gpu_j=per,
                    gpu_method="counter" if methods == {"counter"} else "integrated-power")
        if errors:
            r.error = "; ".join(errors)
        for k, h in self.handles.items():
            before = token["violations"].get(k)
            after = self._violations(h) if before is not None else None
            if before is not None and after is not None:
                th = {why: max(0, after[why] - before[why]) / 1e9 for why in ("power", "thermal")}
                r.throttle_s[k] = th
                if th["power"] > 0:
                    flags.append("power-limit-hit")
                if th["thermal"] > 0:
                    flags.append("thermal-throttled")
            # average power at the enforced limit (boards without violation counters included)
            limit = self._limit_w(h)
            if k in per and limit and dt >= self.min_window_s and per[k] / dt >= POWER_LIMIT_FRACTION * limit:
                flags.append("power-limit-hit")
        if self.whole_node and len(self.handles) > 1:
            flags.append("idle-gpus-included")
        r.flags = list(dict.fromkeys(flags))
        return r

    def metadata(self) -> dict[str, Any]:
        gpus = []
        for t in self.targets:
            h = self.handles[str(t.nvml_index)]
            g: dict[str, Any] = {"index": t.nvml_index, "energy_counter": self.has_counter[str(t.nvml_index)],
                                 "mapped_by": t.mapped_by}
            if t.cuda_index >= 0:
                g["cuda_index"] = t.cuda_index
            for key, fn in (("name", "nvmlDeviceGetName"), ("uuid", "nvmlDeviceGetUUID")):
                try:
                    g[key] = _text(getattr(self.nvml, fn)(h))
                except Exception:
                    pass
            g["power_limit_w"] = self._limit_w(h)
            gpus.append(g)
        meta: dict[str, Any] = {"gpus": gpus, "gpu_indices": self.used_indices,
                                "whole_node": self.whole_node,
                                "nvml_violation_counters": self.has_violation_counters}
        try:
            meta["driver"] = _text(self.nvml.nvmlSystemGetDriverVersion())
        except Exception:
            pass
        return meta

    def close(self) -> None:
        """Shut NVML down (once: each nvmlInit is matched by one nvmlShutdown)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


# --------------------------------------------------------------------------- codecarbon

#: codecarbon CPU modes that read a hardware energy counter; the others (``cpu_load``:
#: TDP x load, ``constant``: half the TDP) are estimates
CODECARBON_CPU_COUNTER_MODES = ("intel_rapl", "intel_power_gadget", "windows_emi")
TRACKING_MODES = ("machine", "process")


class CodeCarbonBackend(EnergyBackend):
    """CPU, RAM and GPU energy as codecarbon reports them (offline, no files, quiet).

    One tracker is started for the backend's lifetime; each window is a codecarbon task
    (``start_task``/``stop_task``), as the study measured its ``query model`` task. Its CPU
    energy is RAPL (``counter``) only where codecarbon reads RAPL; otherwise it is
    codecarbon's estimate from TDP and load (``estimate``, flagged ``cpu-power-estimated``).
    RAM energy is always codecarbon's per-GB estimate. ``tracking_mode`` is codecarbon's:
    ``machine`` (the whole host's CPU and RAM) or ``process`` (this process's share).
    """

    name = "codecarbon"

    def __init__(self, country_iso_code: str = "USA", measure_power_secs: float = 1.0,
                 gpu_ids: Sequence[int] | None = None, output_dir: str | None = None,
                 whole_node: bool = False, tracking_mode: str = "machine") -> None:
        self.whole_node = whole_node
        import os

        if tracking_mode not in TRACKING_MODES:
            raise MeasureError(f"tracking mode must be one of {', '.join(TRACKING_MODES)}, not "
                               f"{tracking_mode!r}", "tracking_mode")
        self.tracking_mode = tracking_mode
        os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError:
            raise MeasureError("codecarbon is not installed", "backend codecarbon") from None
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        kwargs: dict[str, Any] = dict(
            country_iso_code=country_iso_code, save_to_file=False, save_to_api=False,
            log_level="error", measure_power_secs=measure_power_secs,
            tracking_mode=tracking_mode, allow_multiple_runs=True, project_name="wattcast")
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
        self.cpu_method = "counter" if mode.lower() in CODECARBON_CPU_COUNTER_MODES else "estimate"
        self.has_gpu = "GPU" in hw

    def begin(self) -> Any:
        self._n += 1
        name = f"w{self._n}"
        self.tracker.start_task(name)
        return name

    def end(self, token: Any) -> Reading:
        d = self.tracker.stop_task(token)  # energies in kWh
        r = Reading(cpu_j=float(d.cpu_energy) * J_PER_KWH, ram_j=float(d.ram_energy) * J_PER_KWH,
                    cpu_method=self.cpu_method, ram_method="estimate")
        if self.has_gpu:
            r.gpu_j, r.gpu_method = float(d.gpu_energy) * J_PER_KWH, "counter"
            if self.whole_node:
                r.flags.append("idle-gpus-included")
        if self.cpu_method == "estimate":
            r.flags.append("cpu-power-estimated")
        r.flags.append("ram-estimated")
        return r

    def metadata(self) -> dict[str, Any]:
        import codecarbon

        return {"codecarbon_version": codecarbon.__version__, "codecarbon_cpu_mode": self.cpu_mode,
                "tracking_mode": self.tracking_mode}

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
        host = self.host.begin()
        try:
            return (host, self.gpu.begin())
        except BaseException:
            self._end_quietly(host)
            raise

    def end(self, token: Any) -> Reading:
        try:
            g = self.gpu.end(token[1])
        except BaseException:
            self._end_quietly(token[0])  # stop the host's task (codecarbon) all the same
            raise
        h = self.host.end(token[0])
        return g.merge(h, take=("cpu", "ram"))

    def _end_quietly(self, host_token: Any) -> None:
        try:
            self.host.end(host_token)
        except Exception:  # noqa: BLE001 - the GPU's error is the one to report
            pass

    def metadata(self) -> dict[str, Any]:
        return {**self.host.metadata(), **self.gpu.metadata()}

    def close(self) -> None:
        self.gpu.close()
        self.host.close()


# --------------------------------------------------------------------------- Zeus

class ZeusBackend(EnergyBackend):
    """GPU energy from Zeus's ``ZeusMonitor`` (``pip install 'wattcast[zeus]'``): a cross-check.

    Zeus (ml-energy/zeus, the ML.ENERGY leaderboard's meter) reads the same NVML counter
    (Volta and later; polled power on older cards) through its own code, and CPU package and
    DRAM energy from RAPL where the process may read it. Run a trial with ``--backend zeus``
    beside one with ``--backend nvml``: the GPU energies should agree within the counter's
    resolution. ``gpu_indices`` are CUDA indices (Zeus applies CUDA_VISIBLE_DEVICES itself).
    Zeus's own synchronisation is off: the trial synchronises before every window ends.
    """

    name = "zeus"

    def __init__(self, gpu_indices: Sequence[int] = (0,), monitor: Any = None) -> None:
        if monitor is None:
            try:
                from zeus.monitor import ZeusMonitor
            except ImportError:
                raise MeasureError("Zeus is not installed: pip install 'wattcast[zeus]' (zeus 0.16)",
                                   "backend zeus") from None
            try:
                monitor = ZeusMonitor(gpu_indices=list(gpu_indices))
            except Exception as e:  # noqa: BLE001 - "No GPUs available.", RAPL permissions, ...
                raise MeasureError(f"Zeus could not start: {e}", "backend zeus") from None
        self.monitor = monitor
        self.gpu_indices = list(gpu_indices)
        self.min_window_s = COUNTER_MIN_WINDOW_S
        self._n = 0

    def begin(self) -> Any:
        self._n += 1
        key = f"wattcast-{self._n}"
        self.monitor.begin_window(key, sync_execution=False)
        return key

    def end(self, token: Any) -> Reading:
        m = self.monitor.end_window(token, sync_execution=False)
        per = {str(k): float(v) for k, v in (m.gpu_energy or {}).items()}
        r = Reading(gpu_j=sum(per.values()), per_gpu_j=per, gpu_method="counter")
        if m.cpu_energy:
            r.cpu_j, r.cpu_method = float(sum(m.cpu_energy.values())), "counter"
        if m.dram_energy:
            r.ram_j, r.ram_method = float(sum(m.dram_energy.values())), "counter"
        return r

    def metadata(self) -> dict[str, Any]:
        try:
            from importlib.metadata import version

            v = version("zeus")
        except Exception:  # noqa: BLE001
            v = None
        return {"zeus_version": v, "gpu_indices": self.gpu_indices}

    def close(self) -> None:
        """Drop open windows and stop Zeus's power-polling processes (older GPUs) and log file."""
        m, self.monitor = self.monitor, None
        if m is None:
            return
        for step in (lambda: m.reset_windows(), lambda: m.power_monitor and m.power_monitor.stop(),
                     lambda: m.log_file and m.log_file.close()):
            try:
                step()
            except Exception:  # noqa: BLE001 - a stand-in monitor or an older Zeus lacks some
                pass


# --------------------------------------------------------------------------- factory

def gpu_target(device: str, nvml: Any) -> GpuTarget:
    """The NVML device of ``device`` (``cuda`` or ``cuda:N``), matched by UUID where possible."""
    idx = int(device.split(":")[1]) if ":" in device else 0
    return resolve_gpu(nvml, idx, cuda_device_uuid(idx))


BACKENDS = ("fake", "nvml", "codecarbon", "nvml+codecarbon", "zeus")


def _nvml_started(nvml: Any = None):
    nv = nvml or _import_pynvml()
    try:
        nv.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        raise MeasureError(f"NVML could not start ({e}); is an NVIDIA driver installed?",
                           "backend nvml") from None
    return nv


def resolve_device(device: str, nvml: Any = None) -> tuple[GpuTarget, Any]:
    """:func:`gpu_target` with NVML started and shut down around it; returns (target, nvml)."""
    nv = _nvml_started(nvml)
    try:
        return gpu_target(device, nv), nv
    finally:
        try:
            nv.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def make_backend(name: str, device: str, whole_node: bool = False, country_iso_code: str = "USA",
                 measure_power_secs: float = 1.0, nvml: Any = None,
                 tracking_mode: str = "machine") -> EnergyBackend:
    """The backend a config asks for; a GPU backend on a CPU run is a MeasureError.

    The GPU measured is the NVML device the CUDA device runs on (:func:`resolve_gpu`), or every
    GPU of the node with ``whole_node``.
    """
    if name == "fake":
        return FakeBackend()
    if name not in BACKENDS:
        raise MeasureError(f"unknown backend {name!r}", "backend")
    if name in ("nvml", "nvml+codecarbon", "zeus") and device == "cpu":
        raise MeasureError(f"backend {name!r} measures GPUs; use --backend codecarbon with --device cpu",
                           "backend")
    if name == "zeus":
        if whole_node:  # the record would say "all GPUs of the node" over one GPU's energy
            raise MeasureError("backend 'zeus' measures the GPU the model runs on only; for every GPU "
                               "of the node (--whole-node) use --backend nvml or nvml+codecarbon",
                               "backend")
        return ZeusBackend([int(device.split(":")[1]) if ":" in device else 0])
    poll = min(0.1, measure_power_secs)
    target = None
    if device != "cpu" and not whole_node:
        target, nvml = resolve_device(device, nvml)
    if name == "codecarbon":
        # codecarbon numbers GPUs as NVML does
        return CodeCarbonBackend(country_iso_code, measure_power_secs,
                                 gpu_ids=None if target is None else [target.nvml_index],
                                 whole_node=whole_node, tracking_mode=tracking_mode)
    g = NVMLBackend([target] if target else (), whole_node=whole_node, nvml=nvml, poll_interval_s=poll)
    if name == "nvml":
        return g
    try:
        # codecarbon also reads the GPUs; the composite takes only CPU and RAM from it
        h = CodeCarbonBackend(country_iso_code, measure_power_secs,
                              gpu_ids=None if target is None else [target.nvml_index],
                              tracking_mode=tracking_mode)
    except BaseException:
        g.close()
        raise
    return CompositeBackend(g, h)


def make_backend_for(cfg: Any, nvml: Any = None) -> EnergyBackend:
    """The backend of a :class:`~measure.config.MeasureConfig`."""
    return make_backend(cfg.resolved_backend(), cfg.device, whole_node=cfg.whole_node,
                        country_iso_code=cfg.country_iso_code,
                        measure_power_secs=cfg.measure_power_secs, nvml=nvml,
                        tracking_mode=getattr(cfg, "tracking_mode", "machine"))


def backend_key(cfg: Any) -> tuple:
    """Configs with equal keys can share one backend (one codecarbon tracker)."""
    return (cfg.resolved_backend(), cfg.device, cfg.whole_node, cfg.country_iso_code,
            cfg.measure_power_secs, getattr(cfg, "tracking_mode", "machine"))

"""Device and software metadata saved in every record."""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata as importlib_metadata
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 2)
    except (ValueError, OSError, AttributeError):
        return None


def rapl_readable() -> bool:
    """Whether the Linux powercap RAPL energy counter can be read (codecarbon's CPU counter)."""
    try:
        with open("/sys/class/powercap/intel-rapl/intel-rapl:0/energy_uj") as f:
            f.read()
        return True
    except OSError:
        return False


def collect(device: str, backend_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    import torch

    meta: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_name": cpu_name(),
        "cpu_count": os.cpu_count(),
        "ram_gb": ram_gb(),
        "rapl_readable": rapl_readable(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "diffusers": _version("diffusers"),
        "codecarbon": _version("codecarbon"),
        "nvidia_ml_py": _version("nvidia-ml-py"),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "torch_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        idx = int(device.split(":")[1]) if ":" in device else 0
        meta["gpu_name"] = torch.cuda.get_device_name(idx)
        meta["gpu_count_visible"] = torch.cuda.device_count()
    meta.update(backend_meta or {})
    gpus = meta.get("gpus") or []
    if gpus and "gpu_name" not in meta:
        meta["gpu_name"] = gpus[0].get("name")
    if gpus:
        meta["power_limit_w"] = gpus[0].get("power_limit_w")
    meta["device_name"] = meta.get("gpu_name") if device.startswith("cuda") else meta["cpu_name"]
    return meta

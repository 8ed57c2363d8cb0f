"""The optional Zeus backend (``pip install 'wattcast[zeus]'``): a cross-check of the NVML backend.

Skipped where zeus does not import. With no GPU, Zeus is driven through its own
``Measurement`` objects by a stand-in monitor (the adapter is what is tested here); on a
machine without a GPU the backend must refuse with one clear message.
"""

from __future__ import annotations

import pytest

zeus_energy = pytest.importorskip("zeus.monitor.energy", reason="zeus is an optional extra: pip install 'wattcast[zeus]'")

from measure.backends import ZeusBackend, make_backend  # noqa: E402
from measure.errors import MeasureError  # noqa: E402
from measure.window import Monitor, window  # noqa: E402


class StandInMonitor:
    """ZeusMonitor's window interface, returning zeus's own Measurement objects."""

    def __init__(self, gpu_j, cpu_j=None, dram_j=None):
        self.gpu_j, self.cpu_j, self.dram_j = gpu_j, cpu_j, dram_j
        self.calls = []

    def begin_window(self, key, sync_execution=True):
        self.calls.append(("begin", key, sync_execution))

    def end_window(self, key, sync_execution=True):
        self.calls.append(("end", key, sync_execution))
        return zeus_energy.Measurement(time=1.5, gpu_energy=self.gpu_j, cpu_energy=self.cpu_j,
                                       dram_energy=self.dram_j)


def test_zeus_measurement_becomes_a_reading():
    m = StandInMonitor({0: 120.0, 1: 30.0}, cpu_j={0: 20.0}, dram_j={0: 5.0})
    mon = Monitor(ZeusBackend([0, 1], monitor=m))
    with window(mon, "w") as w:
        pass
    r = w.result.reading
    assert (r.gpu_j, r.cpu_j, r.ram_j) == (150.0, 20.0, 5.0)
    assert r.per_gpu_j == {"0": 120.0, "1": 30.0}
    assert (r.gpu_method, r.cpu_method, r.ram_method) == ("counter", "counter", "counter")
    # the trial synchronises itself; Zeus must not add its own sync
    assert [c[2] for c in m.calls] == [False, False] and m.calls[0][1] == m.calls[1][1]


def test_zeus_without_rapl_reports_gpu_only():
    r = ZeusBackend([0], monitor=StandInMonitor({0: 10.0})).end("wattcast-1")
    assert r.gpu_j == 10.0 and r.cpu_j is None and r.cpu_method == "none"


def test_zeus_refuses_cpu_and_a_machine_without_gpu():
    with pytest.raises(MeasureError, match="measures GPUs"):
        make_backend("zeus", "cpu")
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: Zeus starts")
    with pytest.raises(MeasureError, match="Zeus could not start"):
        make_backend("zeus", "cuda:0")


def test_zeus_refuses_whole_node():
    """It measured one GPU while the record said 'all GPUs of the node'."""
    with pytest.raises(MeasureError, match="whole-node"):
        make_backend("zeus", "cuda:0", whole_node=True)


def test_zeus_close_drops_windows_and_stops_its_pollers():
    class Poller:
        stopped = False

        def stop(self):
            self.stopped = True

    m = StandInMonitor({0: 1.0})
    m.power_monitor, m.log_file, m.dropped = Poller(), None, False
    m.reset_windows = lambda: setattr(m, "dropped", True)
    b = ZeusBackend([0], monitor=m)
    b.close()
    b.close()
    assert m.dropped and m.power_monitor.stopped and b.monitor is None

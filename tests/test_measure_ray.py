"""``wattcast campaign --executor ray`` on a local Ray instance (2 CPUs): end-to-end, a worker
killed mid-trial is retried with the store exact, a Ray campaign whose driver is killed
resumes locally with every (trial_key, repeat_index) once, and a local Ray started by a
driver that is killed stops with it (no agents left running)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token written to ~/.ray for a test cluster

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
ray = pytest.importorskip("ray")
import typer
from typer.testing import CliRunner

from measure.cli import register

ROOT = Path(__file__).resolve().parent.parent

# four tiny trials that run, and one whose first window fails (a 1,100-word prompt overflows
# tiny GPT-2's 1,024 positions inside the window)
CAMPAIGN = """
name = "raytiny"
[defaults]
device = "cpu"
backend = "fake"
n_inferences = 2
repeats = 2
count_flops = false
[defaults.inputs]
image_size = [64, 48]
[[grid]]
task = "text_classification"
model = "tiny-distilbert-sst2"
batch_size = [1, 2]
[[grid]]
task = "masked_lm"
model = "tiny-bert-mlm"
[[grid]]
task = "image_classification"
model = "tiny-vit"
[[grid]]
task = "text_generation"
model = "tiny-gpt2"
inputs = { text_words = 1100 }
"""
OK_WINDOWS = 8  # 4 trials x 2 repeats; the failing trial writes one failed record

RESUME_CAMPAIGN = """
name = "raykill"
[defaults]
device = "cpu"
backend = "fake"
n_inferences = 100  # windows of ~0.1 s: the kill must land mid-campaign
repeats = 10
count_flops = false
[defaults.inputs]
text_words = 150
[[grid]]
task = "text_classification"
model = "tiny-distilbert-sst2"
batch_size = [1, 2]
"""
RESUME_TOTAL = 20


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray instance for the module; its session files live in a short /tmp dir."""
    if ray.is_initialized():
        ray.shutdown()
    tmp = tempfile.mkdtemp(prefix="wcray", dir="/tmp")  # short: Ray's unix sockets live here
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=tmp)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    register(a)
    return a


def invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def records(out: Path) -> list[dict]:
    raw = (out / "records.jsonl").read_bytes()
    assert raw.endswith(b"\n"), "truncated last line"
    return [json.loads(line) for line in raw.splitlines()]


def keys(recs: list[dict]) -> list[tuple[str, int]]:
    return [(r["trial_key"], r["repeat_index"]) for r in recs]


def test_ray_campaign_end_to_end_matches_local(app, ray_address, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN)
    res = invoke(app, "campaign", toml, "--executor", "ray", "--out", tmp_path / "ray")
    assert res.exit_code == 1, res.output  # the overflowing trial fails; the others run
    said = " ".join(res.output.split())
    assert "trial failed text_generation/tiny-gpt2: IndexError" in said
    assert "(failed record written)" in said

    recs = records(tmp_path / "ray")
    ok = [r for r in recs if r["status"] == "ok"]
    failed = [r for r in recs if r["status"] == "failed"]
    assert len(ok) == OK_WINDOWS and len(failed) == 1
    assert len(set(keys(recs))) == len(recs) == OK_WINDOWS + 1
    assert "failed:IndexError" in failed[0]["flags"] and failed[0]["repeat_index"] == 0
    assert {r["task"] for r in ok} == {"text_classification", "masked_lm", "image_classification"}
    # each record carries the metadata of the node and worker that measured it
    for r in recs:
        m = r["metadata"]
        assert m["hostname"] == socket.gethostname() and m["device_name"] and m["cpu_name"]
        assert m["ray"]["executor"] == "ray" and m["ray"]["node_id"]
        assert m["ray"]["worker_pid"] != os.getpid()  # measured in a Ray worker, not the driver
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "ray" / "records.parquet")) == len(recs)

    # the local executor on the same file writes the same windows with the same outcomes
    res = invoke(app, "campaign", toml, "--out", tmp_path / "local")
    assert res.exit_code == 1, res.output
    local = records(tmp_path / "local")
    assert sorted((k, r["status"]) for k, r in zip(keys(local), local, strict=True)) == \
        sorted((k, r["status"]) for k, r in zip(keys(recs), recs, strict=True))
    assert all("ray" not in r["metadata"] for r in local)


def test_worker_killed_mid_trial_is_retried_and_store_stays_exact(ray_address, tmp_path):
    from measure.cli import _run
    from measure.config import load_campaign
    from measure.executors import RayExecutor

    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN.split("[[grid]]\ntask = \"masked_lm\"")[0])  # the two text_classification trials
    camp = load_campaign(toml)
    assert len(camp.trials) == 2
    victim = camp.trials[0].trial_key()
    marker = tmp_path / "killed"

    def kill_once(cfg, rec):  # runs on the worker, after it sent a record
        if cfg.trial_key() == victim and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    out = tmp_path / "out"
    failed = _run(camp.trials, out, False, "kill", executor=RayExecutor(after_record=kill_once))
    assert failed == 0
    assert marker.exists(), "the worker was never killed"
    killed_pid = int(marker.read_text())

    recs = records(out)
    assert len(recs) == 4 and len(set(keys(recs))) == 4  # every window once, none lost
    assert all(r["status"] == "ok" for r in recs)
    pids = {r["metadata"]["ray"]["worker_pid"] for r in recs if r["trial_key"] == victim}
    assert pids - {killed_pid}, "no window of the killed trial came from a retried worker"
    assert sorted(r["repeat_index"] for r in recs if r["trial_key"] == victim) == [0, 1]


def test_trial_uses_exactly_the_cpus_it_asked_for(ray_address, tmp_path):
    """A reused Ray worker keeps its first task's OMP threads; each trial must get its own."""
    from measure.cli import _run
    from measure.config import load_campaign
    from measure.executors import RayExecutor

    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN.split("[[grid]]\ntask = \"masked_lm\"")[0])
    trials = load_campaign(toml).trials[:1]
    for cpus in (2, 1):  # a 2-CPU trial first, so a 1-CPU trial may land on its worker
        out = tmp_path / f"c{cpus}"
        assert _run(trials, out, False, "threads", executor=RayExecutor(cpus_per_trial=cpus)) == 0
        assert {r["metadata"]["torch_threads"] for r in records(out)} == {cpus}


def count_lines(p: Path) -> int:
    try:
        return p.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def child_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def campaign_proc(toml: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = child_env()
    return subprocess.Popen([sys.executable, "-m", "measure", "campaign", str(toml), "--out", str(out), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_ray_campaign_killed_resumes_locally(ray_address, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(RESUME_CAMPAIGN)
    out = tmp_path / "out"
    jsonl = out / "records.jsonl"

    # a driver connected to the running cluster, SIGKILLed once some windows are stored
    p = campaign_proc(toml, out, "--executor", "ray", "--address", ray_address)
    t0 = time.time()
    while count_lines(jsonl) < 3:
        if p.poll() is not None:
            pytest.fail(f"campaign ended before the kill: {p.stderr.read().decode()[-2000:]}")
        if time.time() - t0 > 90:
            p.kill()
            pytest.fail("Ray campaign too slow to reach the kill point")
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n1 = count_lines(jsonl)
    assert 3 <= n1 < RESUME_TOTAL, "the kill must land mid-campaign"
    assert all(r["metadata"]["ray"]["executor"] == "ray" for r in records(out))

    # the same campaign, resumed on the local executor
    p = campaign_proc(toml, out, "--resume")
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr.decode()[-2000:]
    assert f"resuming: {n1} window(s)" in stderr.decode()

    recs = records(out)  # no truncated line
    assert len(recs) == RESUME_TOTAL and len(set(keys(recs))) == RESUME_TOTAL
    assert len({r["record_id"] for r in recs}) == RESUME_TOTAL
    assert sorted(i for _, i in keys(recs)) == sorted(list(range(10)) * 2)
    assert all(r["status"] == "ok" for r in recs)
    n_ray = sum(1 for r in recs if "ray" in r["metadata"])
    assert n_ray == n1 and RESUME_TOTAL - n_ray > 0  # both executors wrote to the one store


def test_cuda_trials_need_gpus_on_the_cluster(app, ray_address, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(RESUME_CAMPAIGN)
    res = invoke(app, "campaign", toml, "--executor", "ray", "--device", "cuda", "--backend", "fake",
                 "--out", tmp_path / "o")
    assert res.exit_code == 2 and "no GPUs" in res.output, res.output
    res = invoke(app, "campaign", toml, "--executor", "ray", "--device", "cuda:1", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "use device 'cuda'" in res.output, res.output
    assert not (tmp_path / "o" / "records.jsonl").exists()


def test_address_needs_ray_executor(app, tmp_path):
    res = invoke(app, "campaign", ROOT / "data/campaigns/example_cpu_tiny.toml", "--address", "auto",
                 "--out", tmp_path)
    assert res.exit_code == 2 and "--address needs --executor ray" in res.output


def test_cli_without_ray_installed(tmp_path):
    """``import measure.cli`` imports no ray; asking for Ray without it is one exit-2 message."""
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if ray were not installed
        "import measure.cli, measure.executors\n"
        "assert 'torch' not in sys.modules\n"
        "from measure.cli import make_app\n"
        f"make_app()(['campaign', {str(ROOT / 'data/campaigns/example_cpu_tiny.toml')!r}, "
        f"'--executor', 'ray', '--out', {str(tmp_path)!r}])\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 2, p.stderr
    assert "install the [cluster] extra" in p.stderr
    code = "import sys, measure.cli, measure.executors; print('ray' in sys.modules, 'torch' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "False False"


def test_unreachable_address_is_an_error_not_a_hang(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    toml = tmp_path / "c.toml"
    toml.write_text(RESUME_CAMPAIGN)
    p = campaign_proc(toml, tmp_path / "o", "--executor", "ray", "--address", f"127.0.0.1:{port}")
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 2, stderr.decode()[-2000:]
    assert "no Ray cluster answers there" in stderr.decode()
    assert not (tmp_path / "o" / "records.jsonl").exists()


DRIVER = """
import json, time
from measure import reaper
from measure.executors import RayExecutor
ex = RayExecutor(num_cpus=1)
ex._connect()  # starts a local Ray, as `wattcast campaign --executor ray` without --address does
time.sleep(1)
print(json.dumps(sorted(reaper.children() - {ex.reaper.pid})), flush=True)
time.sleep(300)
"""


def test_local_ray_stops_when_its_driver_is_killed(tmp_path):
    """Issue 12: Ray's agents outlived a SIGKILLed driver (about a minute with Ray 2.60)."""
    import psutil

    p = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip(), p.stderr.read()[-2000:] if p.poll() is not None else "no output"
        started = [psutil.Process(pid) for pid in json.loads(line) if psutil.pid_exists(pid)]
        names = " ".join(" ".join(q.cmdline()) for q in started)
        assert "raylet" in names and "gcs_server" in names, names
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()

    def alive():
        out = []
        for q in started:
            try:
                if q.is_running() and q.status() != psutil.STATUS_ZOMBIE:
                    out.append(q)
            except psutil.NoSuchProcess:
                pass
        return out

    t0 = time.time()
    while alive() and time.time() - t0 < 20:  # the reaper polls every 0.5 s, then 3 s of grace
        time.sleep(0.5)
    left = alive()
    for q in left:  # do not leave them behind even when the test fails
        q.kill()
    assert not left, [" ".join(q.cmdline())[:80] for q in left]

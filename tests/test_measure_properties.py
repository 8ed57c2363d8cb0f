"""Property tests of the pure pieces: counter arithmetic, power integration, batching, config keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from measure.backends import counter_delta_mj, integrate_power
from measure.config import make_config
from measure.run import batches

U64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(start=U64, end=U64)
def test_counter_delta_is_the_difference_or_none_when_backwards(start, end):
    # NVML's mJ counter never wraps in practice (2**64 mJ at 1 kW: 585 million years):
    # an end below the start is a driver reload or GPU reset, not a wrap
    got = counter_delta_mj(start, end)
    assert got == (end - start if end >= start else None)


@given(power=st.floats(min_value=0, max_value=1000), times=st.lists(
    st.floats(min_value=0, max_value=100), min_size=2, max_size=30, unique=True))
def test_constant_power_integrates_to_power_times_duration(power, times):
    ts = sorted(times)
    e = integrate_power([(t, power) for t in ts])
    assert abs(e - power * (ts[-1] - ts[0])) <= 1e-6 * max(1.0, power * ts[-1])


@given(pool=st.integers(min_value=1, max_value=20), n=st.integers(min_value=1, max_value=200),
       b=st.integers(min_value=1, max_value=32))
def test_batches_cover_exactly_n_items(pool, n, b):
    items = list(range(pool))
    bs = batches(items, n, b)
    flat = [x for chunk in bs for x in chunk]
    assert len(flat) == n and all(1 <= len(c) <= b for c in bs)
    assert all(len(c) == b for c in bs[:-1])
    assert flat == [i % pool for i in range(n)]


@given(seed=st.integers(0, 10**6), batch=st.integers(1, 64), repeats=st.integers(1, 50))
def test_trial_key_ignores_repeats_and_labels_but_not_protocol(seed, batch, repeats):
    base = dict(task="text_classification", model="distilbert-sst2", seed=seed, batch_size=batch)
    a = make_config(**base, repeats=repeats, campaign="x")
    b = make_config(**base, repeats=repeats + 1, campaign="y", preset="study")
    assert a.trial_key() == b.trial_key()
    c = make_config(**{**base, "batch_size": batch + 1})
    d = make_config(**base, generation={"max_new_tokens": 11})
    assert len({a.trial_key(), c.trial_key(), d.trial_key()}) == 3

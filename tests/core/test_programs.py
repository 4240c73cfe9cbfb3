"""The guard that releases compiled programs before a process runs out of memory mappings."""

import jax
import jax.numpy as jnp
import pytest

from bayescausal.inference import programs


def test_counts_are_read_from_proc():
    count, limit = programs.mapping_count(), programs.mapping_limit()
    if count is None or limit is None:
        pytest.skip("no /proc on this platform")
    assert 0 < count < limit


def test_missing_proc_files_mean_no_release(tmp_path):
    assert programs.mapping_count(str(tmp_path / "absent")) is None
    assert programs.mapping_limit(str(tmp_path / "absent")) is None
    assert programs.release_if_near_limit(count=None, limit=None) in (False, True)  # never raises


def test_release_only_above_the_share():
    f = jax.jit(lambda x: jnp.sin(x) * 3.0)
    f(jnp.ones(4))
    assert f._cache_size() == 1
    assert not programs.release_if_near_limit(share=0.5, count=50, limit=100)
    assert f._cache_size() == 1
    assert programs.release_if_near_limit(share=0.5, count=51, limit=100)
    assert f._cache_size() == 0
    assert float(f(jnp.ones(4))[0]) == pytest.approx(3.0 * 0.8414709848078965)  # recompiles and still works


def test_release_unmaps_compiled_programs():
    if programs.mapping_count() is None:
        pytest.skip("no /proc on this platform")
    programs.release_if_near_limit(count=1, limit=1)
    before = programs.mapping_count()
    keep = []
    for i in range(60):
        g = jax.jit(lambda x, i=i: jnp.cos(x) * i + jnp.sin(x) ** 2)
        g(jnp.ones(3)).block_until_ready()
        keep.append(g)
    grown = programs.mapping_count()
    assert grown - before >= 60  # at least one mapping per program
    programs.release_if_near_limit(count=1, limit=1)
    assert programs.mapping_count() - before < (grown - before) / 4

"""soptim._executor: the same results serially, on threads, processes and a dask cluster."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from soptim._executor import check_executor, map_blocks, n_workers


def _rowsum(shared, block):
    return shared[block].sum(axis=1)


def _blocks():
    return [np.arange(i, min(i + 3, 10)) for i in range(0, 10, 3)]


def test_serial_and_threads_agree():
    A = np.random.default_rng(0).standard_normal((10, 4))
    ref = map_blocks(_rowsum, _blocks(), None, shared=A)
    np.testing.assert_array_equal(np.concatenate(ref), A.sum(axis=1))
    with ThreadPoolExecutor(2) as ex:
        got = map_blocks(_rowsum, _blocks(), ex, shared=A)
        assert n_workers(ex) == 2
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r, g)


def test_processes_keep_order():
    A = np.arange(40.0).reshape(10, 4)
    with ProcessPoolExecutor(2) as ex:
        got = map_blocks(_rowsum, _blocks(), ex, shared=A)
    np.testing.assert_array_equal(np.concatenate(got), A.sum(axis=1))


def test_bad_executor():
    with pytest.raises(TypeError, match="executor must be"):
        check_executor(4)
    assert n_workers(None) == 1


def test_dask_client_scatters_once():
    distributed = pytest.importorskip("distributed")
    A = np.random.default_rng(1).standard_normal((10, 4))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = map_blocks(_rowsum, _blocks(), client, shared=A)
        # the same data again: its scattered copy must not collide with the first call's
        again = map_blocks(_rowsum, _blocks(), client, shared=A.copy())
        assert n_workers(client) == 2
    for g, h in zip(got, again):
        np.testing.assert_array_equal(g, h)
    np.testing.assert_array_equal(np.concatenate(got), A.sum(axis=1))

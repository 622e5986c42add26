"""Run independent blocks of work on a ``concurrent.futures.Executor``.

soptim never schedules work itself: a caller passes any executor that
implements the :class:`concurrent.futures.Executor` interface — a
``ThreadPoolExecutor``, a ``ProcessPoolExecutor``, or a
``dask.distributed.Client`` (which implements it) — and the blocks are
submitted to it. ``executor=None`` runs the blocks serially in this process,
so the parallel and serial results are computed by the same code.

Large read-only data (an OT cost matrix, say) is passed as ``shared``:

* with a dask ``Client`` it is scattered once (``client.scatter(...,
  broadcast=True)``), so each worker receives it once, not once per task;
* with any other executor the blocks are grouped into one task per worker
  (``executor._max_workers`` where the executor has it), so ``shared`` is
  pickled once per worker as well.

Results come back in block order whatever order the workers finish in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

__all__ = ["map_blocks", "check_executor", "n_workers"]


def check_executor(executor: Any) -> Any:
    """Return ``executor`` if it is None or has ``submit``; ``TypeError`` naming it otherwise."""
    if executor is None or isinstance(executor, Executor) or callable(
            getattr(executor, "submit", None)):
        return executor
    raise TypeError("executor must be a concurrent.futures.Executor (for example a "
                    "ProcessPoolExecutor or a dask.distributed.Client) or None, got "
                    f"{type(executor).__name__}")


def _is_dask_client(executor: Any) -> bool:
    return callable(getattr(executor, "scatter", None)) and callable(
        getattr(executor, "gather", None))


def n_workers(executor: Any) -> int:
    """How many workers ``executor`` runs (1 for None; best effort for others)."""
    if executor is None:
        return 1
    if _is_dask_client(executor):
        try:
            info = executor.scheduler_info()
            return max(1, sum(int(w.get("nthreads", 1)) for w in info["workers"].values()))
        except Exception:  # a client without a scheduler answer: assume one worker
            return 1
    return max(1, int(getattr(executor, "_max_workers", 1) or 1))


def _run_group(fn: Callable, shared: Any, group: Sequence[Any]) -> list:
    return [fn(shared, block) for block in group]


def map_blocks(fn: Callable[[Any, Any], Any], blocks: Sequence[Any], executor: Any = None, *,
               shared: Any = None) -> list:
    """``[fn(shared, block) for block in blocks]``, evaluated on ``executor``.

    Parameters
    ----------
    fn : callable
        ``fn(shared, block) -> result``; must be picklable (a module-level
        function) for process-based executors.
    blocks : sequence
        The independent pieces of work.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where to run them; None runs them here, serially.
    shared : object, optional
        Read-only data every block needs, sent once per worker.

    Returns
    -------
    list
        One result per block, in the order of ``blocks``.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> from soptim._executor import map_blocks
    >>> def scale(k, block):
    ...     return [k * v for v in block]
    >>> with ThreadPoolExecutor(2) as ex:
    ...     map_blocks(scale, [[1, 2], [3]], ex, shared=10)
    [[10, 20], [30]]
    """
    executor = check_executor(executor)
    blocks = list(blocks)
    if executor is None or len(blocks) <= 1:
        return _run_group(fn, shared, blocks)
    if _is_dask_client(executor):
        # hash=False: two calls with equal data must not share (and release) one key
        handle = (executor.scatter(shared, broadcast=True, hash=False) if shared is not None
                  else None)
        futures = [executor.submit(fn, handle, block, pure=False) for block in blocks]
        return list(executor.gather(futures))
    k = min(n_workers(executor), len(blocks))
    # contiguous groups keep neighbouring blocks (and their cache-friendly data) together
    bounds = [round(i * len(blocks) / k) for i in range(k + 1)]
    groups = [blocks[bounds[i]:bounds[i + 1]] for i in range(k)]
    futures = [executor.submit(_run_group, fn, shared, g) for g in groups if g]
    out: list = []
    for f in futures:
        out.extend(f.result())
    return out

"""The process-wide pools that run action code away from the event loop.

Both are shared by every run in the process (the builder makes a Runner per run; a pool per
run would mean threads and processes per run):

* ``threads(size)``: threads for sync action code (SQLite queries, sync skills). They are
  daemon threads, so one still busy when the server stops never holds its exit up.
* ``call(size, fn, *args)``: runs ``fn`` in a pool of worker processes (pebble), where a
  ``python`` step's function runs. Cancelling the awaiting task (a step timeout, a cancelled
  run) kills the worker running the call, which frees its CPU at once; pebble starts a fresh
  worker in its place, and replaces any worker that dies.

The process pool starts lazily, in the background: when a workflow calling a plain function
is validated (a run is likely to follow) or at the first call. Its workers are forked from a
fork server that imported the engine once: they start in milliseconds and do not inherit the
server's memory (secrets, sockets, database connections). They die with the server: on exit,
on SIGTERM (a handler kills them, then hands the signal on to the handler that was there),
and, should the server be killed outright, at once: a thread in each worker waits for the
server's end (a pidfd). ``PR_SET_PDEATHSIG`` alone does not do it: a worker's parent is the
fork server, which outlives a killed server as long as a worker does (each holds its "alive"
pipe), so a call went on to its end, side effects and all, while its run was taken over.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import queue
import select
import signal
import threading
import time
from concurrent.futures import Executor, Future

from pebble import ProcessPool

#: what pebble names its worker processes
WORKER_NAME = "pebble_pool_worker"

_lock = threading.Lock()
_threads: "_DaemonThreads | None" = None
_processes: ProcessPool | None = None
_processes_size = 0
_processes_ready: Future | None = None
_previous_sigterm = None
_stopping = False  # set on SIGTERM and at exit: no new workers after that


# -- threads ---------------------------------------------------------------------------------
def threads(size: int = 32) -> Executor:
    """The shared thread pool (created at first use with ``size`` threads at most)."""
    global _threads
    if _threads is None:
        with _lock:
            if _threads is None:
                _threads = _DaemonThreads(size, "wf-action")
    return _threads


class _DaemonThreads(Executor):
    """A thread pool of daemon threads, started as work arrives (``loop.run_in_executor`` ready).

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads at interpreter exit: one
    runaway call would keep a stopping server alive. These threads are left behind instead.
    """

    def __init__(self, size: int, prefix: str):
        self.size = max(1, size)
        self.prefix = prefix
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._count = 0
        self._count_lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self._work.put((future, fn, args, kwargs))
        if not self._idle.acquire(blocking=False):
            with self._count_lock:
                if self._count < self.size:
                    self._count += 1
                    threading.Thread(target=self._serve, name=f"{self.prefix}_{self._count}", daemon=True).start()
        return future

    def _serve(self) -> None:
        try:
            while True:
                future, fn, args, kwargs = self._work.get()
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except Exception as exc:  # noqa: BLE001 - the caller gets it through the future
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                    finally:
                        if not future.done():  # something beyond Exception stopped the call
                            future.set_exception(RuntimeError("the call stopped its thread"))
                del future, fn, args, kwargs
                self._idle.release()
        finally:  # only when something beyond Exception escaped: this thread is gone
            with self._count_lock:
                self._count -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shared: never shut down by a user; its threads end with the process."""


# -- processes -------------------------------------------------------------------------------
async def call(size: int, fn, *args):
    """``fn(*args)`` in a worker process of the shared pool of ``size`` workers.

    ``fn`` must be a module-level function (it travels by name). Cancelling the awaiting
    task kills the worker if the call has started, or drops the call if it has not.
    """
    pool, ready = _pool(size)
    if not ready.done():  # the first call starts the workers: never on the event loop
        await asyncio.shield(asyncio.wrap_future(ready))  # shared: a cancelled caller leaves it be
    future = pool.schedule(fn, args)
    try:
        return await asyncio.wrap_future(future)
    finally:
        if not future.done():
            future.cancel()  # pebble terminates the worker running it


def warm(size: int) -> None:
    """Start the shared process pool in the background, if it is not running yet."""
    if not _stopping:
        _pool(size)


def _pool(size: int):
    """The shared ProcessPool and a future that is done once its workers run; replaced when
    ``size`` changes or the pool broke."""
    global _processes, _processes_size, _processes_ready
    size = max(1, size)
    if _stopping:
        raise RuntimeError("the server is stopping")
    with _lock:
        # (``active`` starts a pool not started yet, in the caller's thread: asked only once it runs)
        if _processes is not None and (_processes_size != size
                                       or _processes_ready.done() and not _processes.active):
            old, _processes = _processes, None
            old.close()  # calls already scheduled finish; then its workers exit
            threading.Thread(target=old.join, name="wf-pool-retire", daemon=True).start()
        if _processes is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["engine.actions.python"])  # the workers' start-up import
            _processes = ProcessPool(max_workers=size, initializer=_worker_setup, initargs=(os.getpid(),),
                                     context=context)
            _processes_size = size
            _processes_ready = Future()
            threading.Thread(target=_start, args=(_processes, _processes_ready), name="wf-pool-start",
                             daemon=True).start()
        _install_exit_hooks()
        return _processes, _processes_ready


def _start(pool: ProcessPool, ready: Future) -> None:
    """Start the workers (scheduling the first call does) and wait for one to answer."""
    if not ready.set_running_or_notify_cancel():
        return
    try:
        pool.schedule(os.getpid).result()
    except Exception as exc:  # noqa: BLE001 - the callers waiting on ``ready`` get it
        ready.set_exception(exc)
    else:
        ready.set_result(True)


def _worker_setup(server: int) -> None:
    """In each worker: die with the server (and the fork server, its parent), and die at once on
    SIGTERM (pebble's handler runs Python code, which a call stuck in C would delay; the
    default action does not wait)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_die_with, args=(server,), name="wf-die-with-server", daemon=True).start()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the exit hooks still stop the workers
        pass
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(1)


def _die_with(server: int) -> None:
    """Kill this worker once the process ``server`` has ended (killed outright, too)."""
    try:
        select.select([os.pidfd_open(server)], [], [])  # readable once it ends
    except ProcessLookupError:  # it ended already
        pass
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): look every half second
        while _exists(server):
            time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's
        pass
    return True


def stop() -> None:
    """Kill the workers now, for good: the process is ending (no call starts a new pool)."""
    global _processes, _stopping
    _stopping = True
    pool, _processes = _processes, None
    if pool is None:
        return
    pool.stop()  # pebble's loops end and start no new worker
    _kill_workers()
    try:
        pool.join(timeout=2)
    except (TimeoutError, RuntimeError):
        pass


def _kill_workers() -> None:
    for child in multiprocessing.active_children():
        if child.name == WORKER_NAME and child.pid:
            try:
                os.kill(child.pid, signal.SIGKILL)
            except OSError:
                pass


def _on_sigterm(signum, frame) -> None:
    """Kill the workers (a signal handler must not wait on pool threads), then do what the
    handler that was there would have done."""
    global _stopping
    _stopping = True
    if _processes is not None:
        _processes.stop()
    _kill_workers()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


_hooks = {"atexit": False, "sigterm": False}


def _install_exit_hooks() -> None:
    """``stop`` at exit; the SIGTERM handler once a pool is made on the main thread (only it may
    set one; the server's loop runs there)."""
    global _previous_sigterm
    if not _hooks["atexit"]:
        _hooks["atexit"] = True
        atexit.register(stop)
    if not _hooks["sigterm"] and threading.current_thread() is threading.main_thread():
        _hooks["sigterm"] = True
        try:
            _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main interpreter
            pass

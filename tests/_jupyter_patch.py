"""Work around the Output-widget stall of headless notebook executors (jupyter/nbclient#312).

The stall
---------
Executors that mimic an ipywidgets ``Output`` frontend (nbclient and therefore nbmake,
papermill, ``nbconvert --execute``, and Voila's executor) *send* a comm message on the shell
channel while another coroutine is already awaiting the execute reply on that same socket:

    reply_task:  await shell_channel.get_msg(timeout=T)   # -> await socket.poll(T * 1000)
    iopub task:  shell_channel.send(comm_msg)             # same zmq.asyncio socket

``jupyter_client.channels.AsyncZMQSocketChannel.get_msg`` waits with *one* ``socket.poll``
for the whole timeout; pyzmq implements that poll by watching the socket's ZeroMQ file
descriptor, which is edge-triggered. ``jupyter_client.session.Session.send`` sends through a
*synchronous shadow* of the asyncio socket (``zmq.Socket.shadow(stream.underlying)``), so
pyzmq's asyncio wrapper never learns about that send and does not re-check the socket's
events afterwards. The send processes the socket's pending commands, which consumes the edge
that announced the execute reply; the pending poll is never woken and returns only when its
timeout expires (``T`` seconds per cell; never with no timeout), although the reply has been
sitting in the socket the whole time. (Measured here, unpatched: 3 of 30 runs of a 4-cell
Output-widget notebook stalled: one cell for exactly the 20 s cell timeout, or for exactly
nbclient's 4 s ``iopub_timeout`` -- apparently the same lost wake-up on the IOPub channel.
Either way the notebook still "passed". Patched: 0 of 60+ runs, all under 2 s.)
``tests/test_notebooks.py`` reproduces the lost wake-up deterministically with two sockets
and no kernel.

The fix
-------
Wait in short slices instead: ``poll`` for at most ``SLICE_S`` (50 ms) at a time until the
caller's deadline; this covers every async channel (shell, IOPub, stdin, control). Every
new ``poll`` checks the socket's ``EVENTS`` first, so a reply whose wake-up was swallowed is
picked up within one slice. Semantics are unchanged: a message is returned as soon as one
is ready, ``queue.Empty`` is raised when the deadline passes, ``timeout=None`` waits forever
and ``timeout=0`` checks once.

Use ``apply()`` once before any executor runs (``tests/conftest.py`` does it for the whole
pytest session; a Voila launcher script can import this module, call ``apply()``, then run
Voila's main). Only the client process is patched; the kernel is untouched.
"""
from __future__ import annotations

import time
from queue import Empty
from typing import Any

__all__ = ["SLICE_S", "apply", "remove", "is_applied"]

#: Longest single ``socket.poll`` while waiting for a message, in seconds.
SLICE_S = 0.05

_MARK = "_xnb_sliced_get_msg"
_original: Any = None


async def _sliced_get_msg(self: Any, timeout: float | None = None) -> dict[str, Any]:
    """``AsyncZMQSocketChannel.get_msg`` waiting in ``SLICE_S`` polls until the deadline."""
    assert self.socket is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    slice_ms = int(SLICE_S * 1000)
    while True:
        if deadline is None:
            wait_ms = slice_ms
        else:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            wait_ms = max(0, min(slice_ms, remaining_ms))
        if await self.socket.poll(wait_ms):
            return await self._recv()
        if deadline is not None and time.monotonic() >= deadline:
            raise Empty


setattr(_sliced_get_msg, _MARK, True)


def is_applied() -> bool:
    """True when ``AsyncZMQSocketChannel.get_msg`` is the sliced version."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    return bool(getattr(AsyncZMQSocketChannel.get_msg, _MARK, False))


def apply() -> None:
    """Patch ``jupyter_client``'s async channel class in place. Idempotent.

    The class itself is patched (not an instance), so every ``AsyncKernelClient`` created
    afterwards -- nbclient's, Voila's, papermill's -- uses the sliced wait.
    """
    global _original
    from jupyter_client.channels import AsyncZMQSocketChannel

    if is_applied():
        return
    _original = AsyncZMQSocketChannel.get_msg
    AsyncZMQSocketChannel.get_msg = _sliced_get_msg  # type: ignore[method-assign]


def remove() -> None:
    """Restore the original ``get_msg`` (used to measure the stall; not needed otherwise)."""
    global _original
    from jupyter_client.channels import AsyncZMQSocketChannel

    if is_applied() and _original is not None:
        AsyncZMQSocketChannel.get_msg = _original  # type: ignore[method-assign]
        _original = None

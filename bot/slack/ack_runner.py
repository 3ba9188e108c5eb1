"""A Bolt listener runner that answers Slack the moment the listener acks.

Bolt's `AsyncioListenerRunner` starts the listener as a task and then polls `ack.response` every
10 ms, so even a listener that acks at once is answered ≈10 ms late. `FastAckRunner` waits on a
future instead: the request's `AsyncAck` is swapped for a `SignallingAck`, which wakes the runner the
moment its response is set — by `ack(...)`, or by Bolt's error path (`ack.response = <the error
handler's response>`).

Everything else is Bolt's: the listener keeps running after the ack; an exception before the ack
goes to the app's listener error handler and its response is the answer; lazy listeners start the
same way; no ack within `listener.ack_timeout` logs Bolt's warning and returns None. With
`process_before_response=True` (FaaS) Bolt's own code runs unchanged.

One difference, on purpose: the answer is the FIRST response set on the ack. Bolt re-reads
`ack.response` at its next poll, and its error path sets `ack.response = None` when a listener
fails after acking — so under Bolt a listener that acks and then fails within 10 ms makes Slack
wait the whole `ack_timeout` (3 s) for a 404. Here Slack gets the ack that was given.

    install_fast_ack(app)   # once, after AsyncApp(...)
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.listener.async_listener import AsyncListener
from slack_bolt.listener.asyncio_runner import AsyncioListenerRunner
from slack_bolt.logger.messages import warning_did_not_call_ack
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_bolt.util.utils import get_name_for_callable

from bot.metrics import ACK_SECONDS, ACKS
from bot.slack.bodies import request_kind

__all__ = ["FastAckRunner", "SignallingAck", "count_ack", "install_fast_ack"]

log = logging.getLogger(__name__)


class SignallingAck(AsyncAck):
    """An `AsyncAck` that remembers the first response set on it and wakes the runner waiting on it.

    Bolt's error path sets `ack.response = None` when a listener fails after acking; the answer
    already promised stays `first_response`.

    `await ack(...)` yields to the event loop once after setting the response, so the answer goes
    out before the listener's own work after its ack (a listener cannot tell the difference: an
    `await` may always yield)."""

    def __init__(self, response: BoltResponse | None = None) -> None:
        self._response: BoltResponse | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.first_response: BoltResponse | None = None
        super().__init__()  # sets self.response = None through the property
        self.response = response

    @property
    def response(self) -> BoltResponse | None:
        return self._response

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        self._response = value
        if value is not None and self.first_response is None:
            self.first_response = value
            _wake(self._waiter)

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await super().__call__(*args, **kwargs)
        await asyncio.sleep(0)
        return response

    async def wait(self, timeout: float) -> None:
        """Until a response is set or `timeout` seconds pass: one future, woken directly (no
        polling, no extra task as with `asyncio.wait_for`)."""
        if self.first_response is not None:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(max(timeout, 0.0), _wake, waiter)
        self._waiter = waiter
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def __deepcopy__(self, memo: dict[int, Any]) -> AsyncAck:
        # A lazy listener's request is a deep copy; under Bolt its ack is a plain copy too.
        copied = AsyncAck()
        copied.response = copy.deepcopy(self._response, memo)
        return copied


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class FastAckRunner(AsyncioListenerRunner):
    """`AsyncioListenerRunner` that returns as soon as the listener acks (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # asyncio keeps only weak references to tasks: hold the listeners running after their ack.
        self._running: set[asyncio.Task[None]] = set()

    @classmethod
    def replacing(cls, runner: AsyncioListenerRunner) -> FastAckRunner:
        """A FastAckRunner with the same logger, mode and handlers as `runner`."""
        return cls(
            logger=runner.logger,
            process_before_response=runner.process_before_response,
            listener_error_handler=runner.listener_error_handler,
            listener_start_handler=runner.listener_start_handler,
            listener_completion_handler=runner.listener_completion_handler,
            lazy_listener_runner=runner.lazy_listener_runner,
        )

    async def run(
        self,
        request: AsyncBoltRequest,
        response: BoltResponse,
        listener_name: str,
        listener: AsyncListener,
        starting_time: float | None = None,
    ) -> BoltResponse | None:
        if self.process_before_response:
            return await super().run(request, response, listener_name, listener, starting_time)

        starting_time = starting_time if starting_time is not None else time.time()
        ack = request.context.ack
        if not isinstance(ack, SignallingAck):
            # Before the listener (and its kwargs) exist, so `ack` in the listener is this one.
            ack = SignallingAck(ack.response)
            request.context["ack"] = ack

        if listener.auto_acknowledgement:
            await ack()  # acknowledge immediately in case of Events API

        if not request.lazy_only:
            task = asyncio.ensure_future(self._run_ack_function(ack, request, response, listener))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

        for lazy_func in listener.lazy_functions:
            if request.lazy_function_name:
                if get_name_for_callable(lazy_func) == request.lazy_function_name:
                    await self.lazy_listener_runner.run(function=lazy_func, request=request)
                    return BoltResponse(status=200)  # never sent to Slack
                continue
            self._start_lazy_function(lazy_func, request)

        await ack.wait(listener.ack_timeout - (time.time() - starting_time))

        acked = ack.first_response
        if acked is not None:
            count_ack(request, time.time() - starting_time)
        if response is None and acked is None:
            self.logger.warning(warning_did_not_call_ack(listener_name))
            return None
        if response is None and acked is not None:
            self._debug_log_completion(starting_time, acked)
            return acked
        return response

    def _start_lazy_function(self, lazy_func: Any, request: AsyncBoltRequest) -> None:
        # Bolt deep-copies the request for an in-process lazy run; a runner that only reads it
        # (bot.slack.lazy_queue writes body and headers to Redis) is spared the copy.
        if getattr(self.lazy_listener_runner, "reads_request_only", False):
            self.lazy_listener_runner.start(lazy_func, request)
        else:
            super()._start_lazy_function(lazy_func, request)

    async def _run_ack_function(
        self, ack: SignallingAck, request: AsyncBoltRequest, response: BoltResponse, listener: AsyncListener
    ) -> None:
        """Bolt's `run_ack_function_asynchronously`, unchanged."""
        try:
            await self.listener_start_handler.handle(request=request, response=response)
            await listener.run_ack_function(request=request, response=response)
        except Exception as e:
            # The default response status code is 500; the app's error handler may change it.
            if response is None:
                response = BoltResponse(status=500)
            response.status = 500
            if ack.response is not None:  # already acknowledged
                response = None  # type: ignore[assignment]  # as in Bolt: None once acknowledged
            await self.listener_error_handler.handle(error=e, request=request, response=response)
            ack.response = response  # wakes run() when this happened before the ack
        finally:
            await self.listener_completion_handler.handle(request=request, response=response)


def count_ack(request: AsyncBoltRequest, seconds: float) -> None:
    kind = request_kind(request.body)
    ACKS.labels(kind).inc()
    ACK_SECONDS.labels(kind).observe(seconds)
    log.info("Slack request acked", extra={"kind": kind, "ms": round(seconds * 1000, 2)})


def install_fast_ack(app: AsyncApp) -> FastAckRunner:
    """Swap the app's listener runner for a FastAckRunner built from the same parts.

    Call it before or after `app.error(...)`: `app.error` sets the handler on whichever runner the
    app holds, and `replacing` carries over the one already set."""
    runner = FastAckRunner.replacing(app._async_listener_runner)
    app._async_listener_runner = runner
    return runner

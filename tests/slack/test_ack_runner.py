"""FastAckRunner on a real AsyncApp: signed request bodies dispatched through Bolt's whole stack
(signature check, authorization, middleware, listener matching). No assertion is about time: the
order of events is what is checked."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.slack.ack_runner import FastAckRunner, install_fast_ack
from standins.slack_requests import block_actions, event_callback, sign, slash_command, view_submission

SECRET = "test-signing-secret-0123456789abcdef"


async def _authorize(enterprise_id, team_id, user_id, **_):  # type: ignore[no-untyped-def]
    return AuthorizeResult(
        enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-test", bot_user_id="UBOT", bot_id="BBOT"
    )


def make_app(**options) -> AsyncApp:  # type: ignore[no-untyped-def]
    app = AsyncApp(signing_secret=SECRET, authorize=_authorize, **options)
    install_fast_ack(app)
    return app


def request(body_and_type: tuple[bytes, str]) -> AsyncBoltRequest:
    body, content_type = body_and_type
    headers = {"content-type": content_type, **sign(SECRET, body)}
    return AsyncBoltRequest(body=body.decode(), headers=headers)


async def eventually(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), timeout=10)


def test_installed_runner_keeps_bolts_parts():
    app = AsyncApp(signing_secret=SECRET, authorize=_authorize)
    bolt = app._async_listener_runner
    runner = install_fast_ack(app)
    assert app._async_listener_runner is runner and isinstance(runner, FastAckRunner)
    assert runner.logger is bolt.logger
    assert runner.process_before_response is bolt.process_before_response
    assert runner.listener_error_handler is bolt.listener_error_handler
    assert runner.listener_start_handler is bolt.listener_start_handler
    assert runner.listener_completion_handler is bolt.listener_completion_handler
    assert runner.lazy_listener_runner is bolt.lazy_listener_runner


async def test_answers_before_a_listener_that_keeps_working_after_its_ack():
    app = make_app()
    steps: list[str] = []
    finished = asyncio.Event()

    @app.command("/mida")
    async def handle(ack, body):  # type: ignore[no-untyped-def]
        await ack(text="on it")
        steps.append("acked")
        await asyncio.sleep(1)
        steps.append("finished")
        finished.set()

    response = await app.async_dispatch(request(slash_command("results 1234")))
    steps.append("answered")
    assert response.status == 200
    assert response.body == "on it"
    # The answer went out first: it waited neither for the sleep nor for the code after the ack.
    assert steps == ["answered"]

    await eventually(finished)  # the work after the ack still completes
    assert steps == ["answered", "acked", "finished"]


async def test_work_after_the_ack_completes_even_with_no_reference_kept_by_the_caller():
    app = make_app()
    release, finished = asyncio.Event(), asyncio.Event()

    @app.action("approve")
    async def handle(ack):  # type: ignore[no-untyped-def]
        await ack()
        await release.wait()
        finished.set()

    response = await app.async_dispatch(request(block_actions("approve", "R1")))
    assert response.status == 200 and response.body == ""
    assert not finished.is_set()
    import gc

    gc.collect()  # asyncio holds tasks weakly; the runner must hold the listener's
    release.set()
    await eventually(finished)


async def test_ack_with_field_errors_is_the_answer():
    app = make_app()

    @app.view("change_modal")
    async def handle(ack, view):  # type: ignore[no-untyped-def]
        await ack(response_action="errors", errors={"rollout": "Enter a rollout between 0 and 100"})

    response = await app.async_dispatch(
        request(view_submission("change_modal", {"rollout": {"type": "plain_text_input", "value": "abc"}}))
    )
    assert response.status == 200
    assert json.loads(response.body) == {
        "response_action": "errors",
        "errors": {"rollout": "Enter a rollout between 0 and 100"},
    }


@pytest.mark.parametrize("error_handler_first", [True, False])
async def test_exception_before_the_ack_becomes_the_error_handlers_answer(error_handler_first):
    app = AsyncApp(signing_secret=SECRET, authorize=_authorize)
    seen: list[tuple[str, bool]] = []

    async def on_error(error, body, response):  # type: ignore[no-untyped-def]
        seen.append((str(error), response is not None))
        return BoltResponse(status=200, body=json.dumps({"text": f"failed: {error}"}))

    if error_handler_first:
        app.error(on_error)
        install_fast_ack(app)
    else:
        install_fast_ack(app)
        app.error(on_error)

    @app.command("/mida")
    async def handle(ack):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    response = await app.async_dispatch(request(slash_command("results 1234")))
    assert seen == [("boom", True)]  # not acknowledged yet: the handler gets the response to fill
    assert response.status == 200
    assert json.loads(response.body) == {"text": "failed: boom"}


async def test_exception_before_the_ack_without_an_error_handler_is_a_500():
    app = make_app()

    @app.command("/mida")
    async def handle(ack):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    response = await app.async_dispatch(request(slash_command("results 1234")))
    assert response.status == 500


async def test_exception_after_the_ack_goes_to_the_error_handler_without_a_response():
    app = make_app()
    handled = asyncio.Event()
    seen: list[bool] = []

    @app.error
    async def on_error(error, response):  # type: ignore[no-untyped-def]
        seen.append(response is None)
        handled.set()

    @app.action("approve")
    async def handle(ack):  # type: ignore[no-untyped-def]
        await ack()
        await asyncio.sleep(0)
        raise RuntimeError("after the ack")

    response = await app.async_dispatch(request(block_actions("approve", "R1")))
    assert response.status == 200
    await eventually(handled)
    assert seen == [True]


async def test_lazy_listeners_run():
    app = make_app()
    ran = asyncio.Event()

    async def ack_now(ack):  # type: ignore[no-untyped-def]
        await ack()

    async def later(body):  # type: ignore[no-untyped-def]
        assert body["command"] == "/mida"
        ran.set()

    app.command("/mida")(ack=ack_now, lazy=[later])
    response = await app.async_dispatch(request(slash_command("results 1234")))
    assert response.status == 200
    await eventually(ran)


async def test_events_are_acknowledged_automatically():
    app = make_app()
    seen = asyncio.Event()

    @app.event("app_mention")
    async def mention(event):  # type: ignore[no-untyped-def]
        seen.set()

    response = await app.async_dispatch(
        request(event_callback({"type": "app_mention", "user": "U_ALICE", "text": "<@UBOT> hi", "channel": "C1"}))
    )
    assert response.status == 200
    await eventually(seen)


async def test_no_ack_warns_and_falls_through_like_bolt(caplog):
    app = make_app()
    done = asyncio.Event()

    @app.command("/mida")
    async def handle(body):  # type: ignore[no-untyped-def]
        done.set()  # never acks

    app._async_listeners[-1].ack_timeout = 0.05  # Bolt's is 3 s
    with caplog.at_level(logging.WARNING):
        response = await app.async_dispatch(request(slash_command("results 1234")))
    assert done.is_set()
    assert response.status == 404  # Bolt's "unhandled request"
    assert any("ack()" in r.getMessage() for r in caplog.records)


async def test_process_before_response_is_bolts_own_path():
    app = make_app(process_before_response=True)
    steps: list[str] = []

    @app.command("/mida")
    async def handle(ack):  # type: ignore[no-untyped-def]
        await ack(text="done")
        await asyncio.sleep(0)
        steps.append("finished")

    response = await app.async_dispatch(request(slash_command("results 1234")))
    assert steps == ["finished"]  # FaaS mode: the whole listener runs before the answer
    assert response.body == "done"


async def test_each_request_gets_its_own_ack():
    app = make_app()
    gates = {"1": asyncio.Event(), "2": asyncio.Event()}

    @app.command("/mida")
    async def handle(ack, body):  # type: ignore[no-untyped-def]
        n = body["text"]
        if n == "1":
            await gates["1"].wait()  # the first request acks only after the second was answered
        await ack(text=f"answer {n}")

    first = asyncio.ensure_future(app.async_dispatch(request(slash_command("1"))))
    second = await app.async_dispatch(request(slash_command("2")))
    assert second.body == "answer 2"
    assert not first.done()
    gates["1"].set()
    assert (await asyncio.wait_for(first, 10)).body == "answer 1"


def test_the_bot_app_runs_its_listeners_with_the_fast_ack_runner():
    from bot.app import create_app
    from bot.config import Settings
    from bot.deps import build_deps
    from standins.bot_server import bot_env

    env = bot_env(redis_url="redis://127.0.0.1:9/0", slack_api_url="http://127.0.0.1:9/api/",
                  mida_api_url="http://127.0.0.1:9/{region}/v2")
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    app = create_app(settings, build_deps(settings))  # builds clients; connects to nothing
    assert isinstance(app._async_listener_runner, FastAckRunner)
    assert app._async_listener_runner.listener_error_handler.func.__name__ == "handle_listener_error"

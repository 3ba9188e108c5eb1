from __future__ import annotations

import pytest

from bot.domain import Action, Failure, FailureKind, Outcome
from bot.mida import errors as mida
from bot.mida.models import ExperimentStatus
from bot.services import errors as bot
from bot.views.errors import GENERIC, explain, explain_failure
from tests.views import evidence

SERVING = evidence(serving="1", rollout=25)
NOT_SERVING = evidence(serving=None)
DRAFT = evidence(serving=None, status=ExperimentStatus.DRAFT)
INACTIVE = evidence(serving=None, status=ExperimentStatus.INACTIVE)


def test_not_connected_names_connect():
    assert explain(bot.NotConnected()) == (
        "This workspace is not connected to Mida yet; a workspace admin runs /mida connect."
    )


def test_not_allowed_words_a_verb_phrase_or_keeps_a_sentence():
    assert explain(bot.NotAllowed("connect this workspace to Mida")) == (
        "You are not allowed to connect this workspace to Mida."
    )
    assert explain(bot.NotAllowed("Only the requester can cancel.")) == "Only the requester can cancel."


def test_invalid_input_is_its_message():
    assert explain(bot.InvalidInput("rollout", "Rollout must be a number from 0 to 100.")) == (
        "Rollout must be a number from 0 to 100."
    )


def test_401_says_an_admin_must_reconnect_with_midas_text():
    text = explain(bot.ReconnectNeeded("Invalid or missing API key"))
    assert text == (
        "Mida refused the stored API key (Invalid or missing API key). An admin must run /mida connect again."
    )
    assert explain(mida.MidaUnauthorized("Invalid or missing API key")) == text


def test_403_forbidden_includes_midas_text_and_next_step():
    text = explain(bot.Forbidden("Plan does not include API writes"))
    assert "Plan does not include API writes" in text
    assert "403" in text and "/mida connect" in text


def test_404_wrong_id_or_other_project():
    text = explain(bot.UnknownExperiment(999, "Experiment not found"))
    assert "#999" in text
    assert "Experiment not found" in text
    assert "another Mida project" in text
    assert "/mida list" in text


def test_409_already_serving_says_the_state_and_rollout_or_stop():
    text = explain(bot.ExperimentConflict(Action.SERVE_WINNER, "Experiment is already serving", SERVING))
    assert "Experiment is already serving" in text
    assert "serving Variant 1 (id 1) at 25 %" in text
    assert "/mida rollout 1234 <percent>" in text and "/mida stop-serving 1234" in text


def test_409_not_serving_says_serve_winner():
    text = explain(bot.ExperimentConflict(Action.STOP_SERVING, "Experiment is not currently serving", NOT_SERVING))
    assert "Experiment is not currently serving" in text
    assert "live and not serving a winner" in text
    assert "/mida serve-winner 1234" in text
    assert "/mida stop-serving" not in text


def test_409_draft_says_start_it_in_mida():
    text = explain(bot.ExperimentConflict(Action.SERVE_WINNER, "Experiment is a draft", DRAFT))
    assert "Experiment is a draft" in text
    assert "draft" in text and "Start it in Mida first" in text


def test_409_inactive_says_so():
    text = explain(bot.ExperimentConflict(Action.SERVE_WINNER, "Business rule", INACTIVE))
    assert "inactive" in text and "Business rule" in text and "in Mida first" in text


def test_409_without_read_back_says_check_results():
    text = explain(bot.ExperimentConflict(Action.UPDATE_ROLLOUT, "Conflict", None), test_id=77)
    assert "Conflict" in text and "/mida results 77" in text


def test_400_rejected_includes_midas_text():
    text = explain(bot.MidaRejected(400, "Missing variant_id"))
    assert "Missing variant_id" in text and "400" in text and "Nothing was changed" in text


def test_5xx_without_write_says_nothing_changed():
    text = explain(bot.MidaDown("Mida answered 503"))
    assert text.startswith("Mida did not answer")
    assert "nothing was changed" in text


def test_timeout_after_write_with_read_back_reports_the_state():
    text = explain(bot.MidaDown("timed out", maybe_applied=True, state=SERVING))
    assert "may or may not have reached Mida" in text
    assert "serving Variant 1 (id 1) at 25 %" in text
    assert "/mida results 1234 before trying again" in text
    assert "nothing was changed" not in text


def test_timeout_after_write_without_read_back():
    text = explain(bot.MidaDown("timed out", maybe_applied=True, state=None), test_id=55)
    assert "could not be read back" in text
    assert "/mida results 55 before trying again" in text


def test_store_unavailable():
    text = explain(bot.StoreUnavailable())
    assert "temporarily unavailable" in text and "nothing was changed" in text


@pytest.mark.parametrize(
    ("err", "needle"),
    [
        (mida.MidaForbidden("nope", status=403), "nope"),
        (mida.MidaNotFound("Experiment not found", status=404), "another Mida project"),
        (mida.MidaConflict("already serving", status=409), "already serving"),
        (mida.MidaBadRequest("Invalid test_id", status=400), "Invalid test_id"),
        (mida.MidaRateLimited("slow down", retry_after=3), "Try again in 4 seconds"),
        (mida.MidaServerError("boom", status=502), "nothing was changed"),
        (mida.MidaUnavailable("connect failed"), "nothing was changed"),
        (mida.MidaOutcomeUnknown("timeout"), "before trying again"),
        (mida.MidaBadResponse("not json"), "could not use (not json). Nothing was changed."),
        (mida.MidaError("teapot", status=418), "teapot"),
    ],
)
def test_raw_mida_errors_are_worded_by_class(err, needle):
    assert needle in explain(err, test_id=1234)


def test_anything_else_is_a_generic_apology_without_internals():
    text = explain(RuntimeError("redis://secret@host KeyError 'x'"))
    assert text == GENERIC
    assert "secret" not in text and "KeyError" not in text


def test_an_outcome_keeps_a_failure_value_and_words_it_as_the_live_error():
    live = [
        (bot.ReconnectNeeded("Invalid key"), None),
        (bot.ExperimentConflict(Action.SERVE_WINNER, "already serving", SERVING), SERVING),
        (bot.UnknownExperiment(1234, "Experiment not found"), None),
        (bot.MidaDown("timeout", maybe_applied=True, state=SERVING), SERVING),
        (bot.RateLimited("slow down", 2.0), None),
    ]
    for err, state in live:
        stored = Outcome.model_validate_json(
            Outcome(ok=False, failure=err.failure, state_after=state).model_dump_json()
        )
        assert stored.failure == err.failure
        assert explain_failure(stored.failure, state=stored.state_after, test_id=1234) == explain(err, test_id=1234)
    # What is kept is the kind and its fields, never a class name to be looked up again.
    assert Outcome(ok=False, failure=bot.ReconnectNeeded("x").failure).model_dump(mode="json")["failure"] == {
        "kind": "reconnect_needed", "message": "x", "said_by_mida": True, "status": 401, "test_id": None,
        "action": None, "maybe_applied": False, "retry_after": None, "field": None,
    }


def test_a_superseded_failure_says_what_the_experiment_is_now():
    text = explain_failure(Failure(kind=FailureKind.SUPERSEDED, message="Mida answered: already serving"), state=SERVING)
    assert text == (
        "The experiment changed in Mida after this request was made, so it was not applied (Mida answered: already "
        "serving). Now: Experiment #1234 (Homepage CTA Button Color Test) is serving Variant 1 (id 1) at 25 %. "
        "Ask again if the change is still wanted."
    )
    assert explain_failure(Failure(kind=FailureKind.UNEXPECTED, message="internal details")) == GENERIC


@pytest.mark.parametrize(
    ("record", "live"),
    [
        ({"error_kind": "ReconnectNeeded", "error_message": "Invalid key", "mida_status": 401},
         bot.ReconnectNeeded("Invalid key")),
        ({"error_kind": "UnknownExperiment", "error_message": "Experiment not found"},
         bot.UnknownExperiment(None, "Experiment not found")),
        ({"error_kind": "MidaOutcomeUnknown", "error_message": "timed out"}, bot.MidaDown("timed out", maybe_applied=True)),
        ({"error_kind": "MidaDown", "error_message": "503"}, bot.MidaDown("503")),
        ({"error_kind": "StoreUnavailable", "error_message": ""}, bot.StoreUnavailable()),
    ],
)
def test_outcomes_recorded_with_class_names_read_as_failure_values(record, live):
    """Audit entries and requests written before failures were values still read the same."""
    old = Outcome.model_validate({"ok": False, **record})
    assert old.failure is not None and old.failure.kind is live.failure.kind
    assert explain_failure(old.failure, test_id=1234) == explain(live, test_id=1234)


def test_an_unknown_legacy_class_name_is_the_generic_sentence():
    old = Outcome.model_validate({"ok": False, "error_kind": "SomethingRenamed", "error_message": "internal details"})
    assert old.failure.kind is FailureKind.UNEXPECTED
    assert explain_failure(old.failure) == GENERIC


def test_every_bot_error_gets_its_own_sentence():
    errors = [
        bot.NotConnected(),
        bot.NotAllowed("do that"),
        bot.InvalidInput("f", "bad"),
        bot.ReconnectNeeded("x"),
        bot.Forbidden("x"),
        bot.UnknownExperiment(1, "x"),
        bot.ExperimentConflict(Action.SERVE_WINNER, "x", None),
        bot.MidaRejected(400, "x"),
        bot.MidaDown("x"),
        bot.MidaUnreadable("x"),
        bot.RateLimited("x", None),
        bot.NotAMember("guest"),
        bot.StoreUnavailable(),
    ]
    sentences = [explain(e) for e in errors]
    assert GENERIC not in sentences
    assert len(set(sentences)) == len(sentences)


def test_the_bots_own_state_check_is_not_quoted_as_mida():
    text = explain(
        bot.ExperimentConflict(Action.SERVE_WINNER, "The experiment is a draft and cannot serve a winner.", DRAFT,
                               said_by_mida=False)
    )
    assert text.startswith("The experiment is a draft and cannot serve a winner. Nothing was sent to Mida. Now: ")
    assert "Mida said" not in text and "Mida refused" not in text
    from_mida = explain(bot.ExperimentConflict(Action.SERVE_WINNER, "Experiment is a draft and cannot serve", DRAFT))
    assert from_mida.startswith(
        'Mida refused to serve a winner because of the experiment\'s current state. Mida said: "Experiment is a '
        'draft and cannot serve".'
    )


def test_an_unreadable_read_says_so_and_that_nothing_changed():
    assert explain(bot.MidaUnreadable("Mida answered 200 with a body that is not JSON")) == (
        "Mida answered with something the bot could not use (Mida answered 200 with a body that is not JSON). "
        "Nothing was changed. Try again in a minute; if it keeps happening, look at the experiment in Mida's dashboard."
    )
    assert "did not answer" not in explain(mida.MidaBadResponse("x"), test_id=1234)


@pytest.mark.parametrize(
    ("kind", "head"),
    [
        (FailureKind.ANSWER_UNREADABLE, "Mida answered with something the bot could not read (x)"),
        (FailureKind.ANSWER_CONTRADICTS, "Mida's answer does not match the change (x)"),
    ],
)
def test_an_untrusted_write_answer_says_what_the_read_back_found(kind, head):
    assert explain_failure(Failure(kind=kind, message="x"), test_id=1234, state=NOT_SERVING) == (
        f"{head}. The bot read the experiment back: the change was not applied. Now: Experiment #1234 "
        "(Homepage CTA Button Color Test) is live and not serving a winner. Ask again if the change is still wanted."
    )
    assert explain_failure(Failure(kind=kind, message="x"), test_id=1234, state=None) == (
        f"{head}, so the change may or may not have been applied; the experiment could not be read back either. "
        "Check with /mida results 1234 before trying again."
    )

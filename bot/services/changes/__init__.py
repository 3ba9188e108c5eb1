"""Changes to what Mida serves, from the moment someone asks to the one execution.

- `intake.ChangeIntake.request_change` is the one way in: every change (the confirm modal today;
  whatever comes next) becomes a `ChangeRequest` there, under the channel's rules.
- `drafts.DraftService` is the confirm modal: open, read the evidence, pick a variant, validate.
- `decisions.DecisionService` approves, rejects, cancels and expires requests, and says who may.
- `execution.ExecutionService` applies an approved request against Mida, once: read back before
  writing, reconcile what cannot be known, supersede what someone else changed.
- `state` holds the pure rules about a change and the experiment's state.
"""

"""Callback, block and action ids shared by the Block Kit builders and the listeners."""

# Modals (callback_id)
CONNECT_MODAL = "connect"
CHANGE_MODAL = "change_confirm"
SETTINGS_MODAL = "settings"
REJECT_MODAL = "reject_reason"

# Connect modal blocks (block_id; the input's action_id is the same string)
PROJECT_KEY = "project_key"
API_KEY = "api_key"
REGION = "region"

# Change modal blocks
VARIANT = "variant"
ROLLOUT = "rollout"
REASON = "reason"

# Settings modal blocks
POLICY_MODE = "policy_mode"
APPROVERS = "approvers"
APPROVER_GROUP = "approver_group"
APPROVALS_NEEDED = "approvals_needed"
EXPIRY_HOURS = "expiry_hours"
AUDIT_CHANNEL = "audit_channel"
BOT_ADMINS = "bot_admins"
POLICY_CHANNEL = "policy_channel"
GUESTS_MAY_APPROVE = "guests_may_approve"  # a checkbox; its one option's value is GUESTS_ALLOWED
GUESTS_ALLOWED = "allowed"

# Reject modal block
REJECT_REASON = "reject_reason"

# Buttons and interactive elements (action_id); their value is a request id or a test id
APPROVE = "request_approve"
REJECT = "request_reject"
CANCEL = "request_cancel"
VARIANT_SELECT = "variant_select"
POST_DEPLOY_RESULTS = "post_deploy_results"
OPEN_RESULTS_PAGE = "open_results_page"
OPEN_IN_MIDA = "open_in_mida"

# Added with the view builders
MESSAGE_MODAL = "message"  # an information/error modal with no submit button
POLICY_SCOPE_WORKSPACE = "workspace"  # POLICY_CHANNEL option values
POLICY_SCOPE_CHANNEL = "channel"
REQUEST_ACTIONS = "request_actions"  # block_id of a pending card's Approve/Reject/Cancel buttons
RESULT_LINKS = "result_links"  # block_id of the results/Mida buttons on cards and result messages
MIN_DAYS_RUNNING = "min_days_running"  # settings modal: guardrail thresholds (ChannelRules fields)
MIN_VISITORS = "min_visitors_per_variant"
MIN_CONVERSIONS = "min_conversions_per_variant"
RISKY_LOSS = "risky_loss_percent"

# Follow-ups in a served card's thread (value: the test id)
FOLLOWUP_STOP = "followup_stop_serving"
FOLLOWUP_ROLLOUT = "followup_change_rollout"
FOLLOWUP_ACTIONS = "followup_actions"
FOLLOWUP_HOURS = "followup_hours"  # settings modal block

# App Home tab (action_id; Stop / Change rollout carry the test id, like the follow-up buttons)
HOME_CONNECT = "home_connect"
HOME_SETTINGS = "home_settings"
HOME_STOP_SERVING = "home_stop_serving"
HOME_CHANGE_ROLLOUT = "home_change_rollout"
# App Home blocks (block_id)
HOME_HEALTH = "home_health"
HOME_RAMPS = "home_ramps"
HOME_WATCHES = "home_watches"
HOME_ADMIN = "home_admin"
HOME_SERVING = "home_serving"  # the section heading; each experiment is home_serving:<test_id>
HOME_WAITING = "home_waiting_on_me"
HOME_MINE = "home_my_requests"
HOME_RECENT = "home_recent"

# Ramp plan cards: each button's value is the ramp id.
RAMP_ACTIONS = "ramp_actions"
RAMP_PAUSE = "ramp_pause"
RAMP_RESUME = "ramp_resume"
RAMP_ADVANCE = "ramp_advance_now"
RAMP_ABORT = "ramp_abort_hold"
RAMP_ABORT_STOP = "ramp_abort_stop_serving"

# Watch alerts: Serve's value is "<test_id>|<variant_id>", the others' the test id.
WATCH_ACTIONS = "watch_actions"
WATCH_SERVE = "watch_serve_winner"
WATCH_RESULTS = "watch_results"
WATCH_PAUSE = "watch_pause_experiment"
CONFIRM_AGAIN = "confirm_again"  # a card whose evidence went stale: the serve modal again

"""Mida API responses as typed values.

Tolerant of the documented quirks: `status` is a label ("live") on some endpoints and a code (1) on
others, `serving_variant_id` may be absent or null, `improvement` is absent on the control,
`report_phase` may be absent, and unknown extra fields are ignored. The fields the statistics read
(`stats_engine`, `confidence_threshold_percent`, `is_mab`, `traffic_weight`, `variant_status`, the
revenue fields) are optional and an unusable value becomes None, so an answer (or a stored snapshot)
without them still loads and is shown without the figures that need them. Strict about what the bot acts
on: counts Mida cannot mean (negative, more conversions than visitors) and write answers without
the fields their docs promise are refused, so they become `MidaBadResponse`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReportPhase(StrEnum):
    PRE_DEPLOY = "pre_deploy"
    POST_DEPLOY = "post_deploy"
    ALL_TIME = "all_time"


class ExperimentStatus(StrEnum):
    DRAFT = "draft"
    LIVE = "live"
    INACTIVE = "inactive"
    UNKNOWN = "unknown"


_STATUS_BY_CODE = {9: ExperimentStatus.DRAFT, 1: ExperimentStatus.LIVE, 0: ExperimentStatus.INACTIVE}
STATUS_CODE = {status: code for code, status in _STATUS_BY_CODE.items()}


def parse_status(value: Any) -> ExperimentStatus:
    if isinstance(value, bool):
        return ExperimentStatus.UNKNOWN
    if isinstance(value, int):
        return _STATUS_BY_CODE.get(value, ExperimentStatus.UNKNOWN)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.lstrip("-").isdigit():
            return _STATUS_BY_CODE.get(int(text), ExperimentStatus.UNKNOWN)
        try:
            return ExperimentStatus(text)
        except ValueError:
            return ExperimentStatus.UNKNOWN
    return ExperimentStatus.UNKNOWN


def _variant_id(value: Any) -> str | None:
    """Variant ids are strings ("0", "1"); some endpoints send numbers."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


class Experiment(_Model):
    """One row of List Experiments."""

    test_id: int
    test_name: str = ""
    url: str | None = None
    status: ExperimentStatus = ExperimentStatus.UNKNOWN
    is_completed: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    serving_variant_id: str | None = None
    is_deploy: bool = False

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> ExperimentStatus:
        return parse_status(v)

    @field_validator("serving_variant_id", mode="before")
    @classmethod
    def _serving(cls, v: Any) -> str | None:
        return _variant_id(v)

    @field_validator("is_completed", "is_deploy", mode="before")
    @classmethod
    def _flag(cls, v: Any) -> bool:
        return bool(v) if v is not None else False

    @property
    def is_serving(self) -> bool:
        return self.serving_variant_id is not None


class ExperimentList(_Model):
    company_id: int | None = None
    count: int = 0
    experiments: list[Experiment] = Field(default_factory=list)


class Goal(_Model):
    goal_name: str | None = None
    goal_type: str | None = None
    goal_value: str | None = None


STATS_ENGINES = ("bayesian", "frequentist")


def _engine(value: Any) -> str | None:
    """ "bayesian" | "frequentist"; anything else is not an engine the bot can speak in."""
    text = value.strip().lower() if isinstance(value, str) else None
    return text if text in STATS_ENGINES else None


def _optional_number(value: Any) -> float | None:
    """A finite number, or None (absent, null, a string, a bool): an optional figure never fails the answer."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != value
        or value
        in (
            float("inf"),
            float("-inf"),
        )
    ):
        return None
    return float(value)


def _threshold(value: Any) -> float | None:
    number = _optional_number(value)
    return number if number is not None and 0 < number < 100 else None


def _weight(value: Any) -> float | None:
    number = _optional_number(value)
    return number if number is not None and number >= 0 else None


def _flag(value: Any) -> bool:
    return value is True or value == 1


def _check_counts(whose: str, visitors: int, conversions: int) -> None:
    """Counts no experiment can have: the whole answer is wrong, not just these numbers."""
    if visitors < 0 or conversions < 0:
        raise ValueError(f"{whose} has a negative count ({visitors} visitors, {conversions} conversions)")
    if conversions > visitors:
        raise ValueError(f"{whose} has more conversions ({conversions}) than visitors ({visitors})")


class VariantResult(_Model):
    """One row of Get Experiment Result's `variants`."""

    variant_id: str
    name: str = ""
    nickname: str | None = None
    visitors: int = 0
    conversions: int = 0
    conversion_rate: float = 0.0
    improvement: float | None = None
    is_control: bool = False
    traffic_weight: float | None = None  # share of the split, 0–100; None for MAB tests
    variant_status: str | None = None  # "active" | "paused" (configured weight 0)
    # Present when the result `has_revenue`: the variant's total revenue and Mida's revenue per visitor.
    revenue: float | None = None
    orders: int | None = None
    rpv: float | None = None
    revenue_per_visitor_improvement: float | None = None

    @field_validator("traffic_weight", mode="before")
    @classmethod
    def _traffic_weight(cls, v: Any) -> float | None:
        return _weight(v)

    @field_validator("variant_status", mode="before")
    @classmethod
    def _variant_status(cls, v: Any) -> str | None:
        return v.strip().lower() if isinstance(v, str) and v.strip() else None

    @field_validator("revenue", "rpv", "revenue_per_visitor_improvement", mode="before")
    @classmethod
    def _money(cls, v: Any) -> float | None:
        return _optional_number(v)

    @field_validator("orders", mode="before")
    @classmethod
    def _orders(cls, v: Any) -> int | None:
        number = _optional_number(v)
        return int(number) if number is not None and number >= 0 else None

    @property
    def paused(self) -> bool:
        return self.variant_status == "paused"

    @field_validator("variant_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _variant_id(v) or ""

    @field_validator("visitors", "conversions", mode="before")
    @classmethod
    def _count(cls, v: Any) -> int:
        return int(v) if v is not None else 0

    @model_validator(mode="after")
    def _possible(self) -> VariantResult:
        _check_counts(f"variant {self.variant_id}", self.visitors, self.conversions)
        return self

    @field_validator("conversion_rate", mode="before")
    @classmethod
    def _rate(cls, v: Any) -> float:
        return float(v) if v is not None else 0.0

    @property
    def label(self) -> str:
        """The name a person knows the variant by."""
        if self.nickname and self.nickname != self.name:
            return f"{self.name} ({self.nickname})" if self.name else self.nickname
        return self.name or f"Variant {self.variant_id}"


class ExperimentResult(_Model):
    """Get Experiment Result: the evidence and the serving state of one experiment."""

    test_id: int
    test_name: str = ""
    status: ExperimentStatus = ExperimentStatus.UNKNOWN
    status_code: int | None = None
    start_date: str | None = None
    end_date: str | None = None
    days_running: int | None = None
    primary_goal: Goal | None = None
    serving_variant_id: str | None = None
    is_serving: bool = False
    report_phase: ReportPhase | None = None
    report_phase_unknown: str | None = None  # a phase Mida named that the bot does not know
    traffic_allocation: float | None = None
    # How Mida judges this test (the bot computes its figures in the same engine, bot/evidence).
    stats_engine: str | None = None  # "bayesian" | "frequentist"
    confidence_threshold_percent: float | None = None
    distribution_mode: str | None = None
    is_mab: bool = False
    has_revenue: bool = False
    currency: str | None = None
    total_visitors: int = 0
    total_conversions: int = 0
    variants: list[VariantResult] = Field(default_factory=list)

    @field_validator("stats_engine", mode="before")
    @classmethod
    def _stats_engine(cls, v: Any) -> str | None:
        return _engine(v)

    @field_validator("confidence_threshold_percent", mode="before")
    @classmethod
    def _confidence(cls, v: Any) -> float | None:
        return _threshold(v)

    @field_validator("is_mab", "has_revenue", mode="before")
    @classmethod
    def _flags(cls, v: Any) -> bool:
        return _flag(v)

    @field_validator("distribution_mode", "currency", mode="before")
    @classmethod
    def _label(cls, v: Any) -> str | None:
        return (v.strip()[:20] or None) if isinstance(v, str) else None

    @model_validator(mode="before")
    @classmethod
    def _unknown_phase(cls, data: Any) -> Any:
        if isinstance(data, dict):
            raw = data.get("report_phase")
            if raw not in (None, "") and raw not in {p.value for p in ReportPhase}:
                data = {**data, "report_phase": None, "report_phase_unknown": str(raw)[:40]}
        return data

    @model_validator(mode="after")
    def _possible_totals(self) -> ExperimentResult:
        _check_counts("the total", self.total_visitors, self.total_conversions)
        return self

    def phase(self, asked: ReportPhase | None) -> ReportPhase | None:
        """The phase these numbers are for: what was asked, else what Mida echoed, else (Mida left
        it out) the documented default: pre-deploy while serving, all time otherwise. None when
        Mida named a phase the bot does not know and none was asked."""
        if asked is not None:
            return ReportPhase(asked)
        if self.report_phase is not None:
            return self.report_phase
        if self.report_phase_unknown is not None:
            return None
        return ReportPhase.PRE_DEPLOY if self.serving else ReportPhase.ALL_TIME

    @field_validator("serving_variant_id", mode="before")
    @classmethod
    def _serving(cls, v: Any) -> str | None:
        return _variant_id(v)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> ExperimentStatus:
        return parse_status(v)

    @property
    def serving(self) -> bool:
        """Serving when either field says so (an absent id with is_serving false means not)."""
        return self.is_serving or self.serving_variant_id is not None

    def variant(self, variant_id: str) -> VariantResult | None:
        return next((v for v in self.variants if v.variant_id == variant_id), None)

    @property
    def control(self) -> VariantResult | None:
        return next((v for v in self.variants if v.is_control), None)


class MetricDefinition(_Model):
    """One of Get Experiment Metrics' `metric_definitions`: the Nth is `result_N` in each row."""

    metric_key: str = ""
    name: str = ""
    metric_text: str | None = None
    goal: Goal | None = None

    @field_validator("metric_key", "name", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        return str(v) if isinstance(v, str | int) and not isinstance(v, bool) else ""

    @property
    def label(self) -> str:
        return self.name or (self.goal.goal_name if self.goal and self.goal.goal_name else "") or self.metric_key


class MetricRow(_Model):
    """One variant's row: `total` visitors and `results[N]`, the dashboard's result for the Nth
    definition (a conversion count for a conversion goal; Mida synthesises no rate)."""

    variant_id: str
    total: int = 0
    results: dict[int, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_results(cls, data: Any) -> Any:
        if isinstance(data, dict):
            results = {}
            for key, value in data.items():
                if isinstance(key, str) and key.startswith("result_") and key[7:].isdigit():
                    number = _optional_number(value)
                    if number is not None:
                        results[int(key[7:])] = number
            data = {k: v for k, v in data.items() if not str(k).startswith("result_")} | {"results": results}
        return data

    @field_validator("variant_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _variant_id(v) or ""

    @field_validator("total", mode="before")
    @classmethod
    def _count(cls, v: Any) -> int:
        number = _optional_number(v)
        if number is None or number < 0 or not number.is_integer():
            raise ValueError("total must be a visitor count")
        return int(number)


class ExperimentMetrics(_Model):
    """Get Experiment Metrics: the experiment's attached secondary metrics, one row per variant."""

    test_id: int
    test_name: str = ""
    count: int = 0
    metric_count: int = 0
    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
    metrics: list[MetricRow] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @field_validator("warnings", mode="before")
    @classmethod
    def _warnings(cls, v: Any) -> list[str]:
        return [str(w)[:300] for w in v] if isinstance(v, list) else []


class TimeseriesRow(_Model):
    variant_id: str
    visitors: int = 0
    converted: int = 0
    conversion: float | None = None
    created_at: str | None = None
    start_date: str | None = None

    @field_validator("variant_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _variant_id(v) or ""

    @field_validator("visitors", "converted", mode="before")
    @classmethod
    def _count(cls, v: Any) -> int:
        return int(v) if v is not None else 0


class Timeseries(_Model):
    test_id: int
    test_name: str = ""
    count: int = 0
    timeseries: list[TimeseriesRow] = Field(default_factory=list)


class ServingState(_Model):
    """Answer of stop-serving, and the fields every serving answer carries. The bot acts on these
    fields, so they are not coerced: `"is_serving": "false"` is an answer it cannot read."""

    success: StrictBool
    test_id: StrictInt
    is_serving: StrictBool
    serving_variant_id: str | None = None
    traffic_allocation: float | None = Field(default=None, strict=True, allow_inf_nan=False)
    message: str | None = None

    @field_validator("serving_variant_id", mode="before")
    @classmethod
    def _serving(cls, v: Any) -> str | None:
        return _variant_id(v)


class ServeAnswer(ServingState):
    """Answer of serve-winner: says which variant is served, at what rollout."""

    serving_variant_id: str
    traffic_allocation: float = Field(strict=True, allow_inf_nan=False)


class StatusAnswer(_Model):
    """Answer of Update Experiment Status: the status code now set."""

    success: StrictBool
    test_id: StrictInt
    status: StrictInt
    message: str | None = None


class RolloutAnswer(ServingState):
    """Answer of serving-rollout: the rollout now applied."""

    traffic_allocation: float = Field(strict=True, allow_inf_nan=False)

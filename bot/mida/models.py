"""Mida API responses as typed values.

Tolerant of the documented quirks: `status` is a label ("live") on some endpoints and a code (1) on
others, `serving_variant_id` may be absent or null, `improvement` is absent on the control, and
unknown extra fields are ignored.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    traffic_weight: float | None = None
    variant_status: str | None = None

    @field_validator("variant_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _variant_id(v) or ""

    @field_validator("visitors", "conversions", mode="before")
    @classmethod
    def _count(cls, v: Any) -> int:
        return int(v) if v is not None else 0

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
    traffic_allocation: float | None = None
    total_visitors: int = 0
    total_conversions: int = 0
    variants: list[VariantResult] = Field(default_factory=list)

    @field_validator("serving_variant_id", mode="before")
    @classmethod
    def _serving(cls, v: Any) -> str | None:
        return _variant_id(v)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> ExperimentStatus:
        return parse_status(v)

    @field_validator("report_phase", mode="before")
    @classmethod
    def _phase(cls, v: Any) -> ReportPhase | None:
        try:
            return ReportPhase(v) if v else None
        except ValueError:
            return None

    @property
    def serving(self) -> bool:
        """Serving when either field says so (an absent id with is_serving false means not)."""
        return self.is_serving or self.serving_variant_id is not None

    def variant(self, variant_id: str) -> VariantResult | None:
        return next((v for v in self.variants if v.variant_id == variant_id), None)

    @property
    def control(self) -> VariantResult | None:
        return next((v for v in self.variants if v.is_control), None)


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
    """Answer of serve-winner, serving-rollout and stop-serving."""

    test_id: int
    serving_variant_id: str | None = None
    traffic_allocation: float | None = None
    is_serving: bool = False
    message: str | None = None

    @field_validator("serving_variant_id", mode="before")
    @classmethod
    def _serving(cls, v: Any) -> str | None:
        return _variant_id(v)

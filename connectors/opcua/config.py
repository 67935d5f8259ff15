"""Configuration of one OPC UA source, as it appears in a site YAML."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OpcUaSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    type: Literal["opcua"] = "opcua"
    endpoint: str = Field(pattern=r"^opc\.tcp://")
    security: Literal["none"] = "none"
    allow_insecure: bool = False
    publishing_interval_ms: float = Field(default=100.0, gt=0)
    sampling_interval_ms: float = Field(default=0.0, ge=0)
    timeout_s: float = Field(default=4.0, gt=0)

    @model_validator(mode="after")
    def _insecure_is_explicit(self) -> Self:
        if self.security == "none" and not self.allow_insecure:
            raise ValueError(
                "security 'none' sends commands unsigned and unencrypted; "
                "set allow_insecure: true to accept that explicitly"
            )
        return self

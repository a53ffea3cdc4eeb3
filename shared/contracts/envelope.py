"""CloudEvents 1.0 envelope in structured JSON mode, so any Kafka client can publish and read it.

https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]  # required by CloudEvents 1.0: no default
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def new_envelope(*, type: str, source: str, data: BaseModel, time: datetime, subject: str | None = None,
                 id: str | None = None) -> Envelope:
    return Envelope(
        specversion="1.0",
        id=id or str(uuid.uuid4()),
        source=source,
        type=type,
        time=time,
        subject=subject,
        data=data.model_dump(mode="json"),
    )

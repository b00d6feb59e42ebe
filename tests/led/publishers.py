"""A publisher for the LED server's tests: keeps what it is given, encoded as the hub gets it."""

from __future__ import annotations

from typing import Any

import orjson


class EncodingRecorder:
    """Keeps each answer after encoding it with the hub client's encoder.

    ``HubClient.publish`` encodes with orjson, which refuses what JSON clients
    could not read back (integers beyond 64 bits, lone surrogates, nesting
    past 255 levels): an answer it refuses would never leave the server.
    """

    def __init__(self) -> None:
        self.published: list[tuple[str, Any, bool]] = []

    async def publish(self, subject: str, data: Any = None, *, retain: bool = False) -> None:
        frame = {"type": "publish", "subject": subject, "data": data}
        self.published.append((subject, orjson.loads(orjson.dumps(frame))["data"], retain))

    def subjects(self) -> list[str]:
        return [subject for subject, _, _ in self.published]

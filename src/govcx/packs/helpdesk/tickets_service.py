"""The helpdesk pack's ticketing service: a small FastAPI app whose OpenAPI document
(``tickets_openapi.yaml``, written by ``python tickets_service.py --write-spec``) the pack
uses for its ``tickets.*`` tools.

Start it before using the ticket tools (the pack's calls fail clearly while it is down)::

    python src/govcx/packs/helpdesk/tickets_service.py            # 127.0.0.1:8766

Tickets are deduplicated by the ``Idempotency-Key`` header govcx sends.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

SPEC = Path(__file__).with_name("tickets_openapi.yaml")


class NewTicket(BaseModel):
    subject: str = Field(min_length=3, max_length=200, description="What the customer needs")
    priority: Literal["low", "normal", "high"] = "normal"
    customer_id: str


def create_app() -> FastAPI:
    app = FastAPI(title="helpdesk tickets", version="1.0.0")
    app.servers = [{"url": "http://127.0.0.1:8766"}]
    tickets: dict[str, dict[str, Any]] = {}
    by_key: dict[str, str] = {}
    lock = threading.Lock()

    @app.post("/tickets", operation_id="createTicket")
    def create_ticket(
        ticket: NewTicket, idempotency_key: Annotated[str, Header(alias="Idempotency-Key")]
    ) -> dict[str, Any]:
        """Open a support ticket for the customer (a person follows up)."""
        with lock:
            if idempotency_key not in by_key:
                ticket_id = f"T-{len(tickets) + 1001}"
                tickets[ticket_id] = {
                    "ticket_id": ticket_id,
                    "status": "open",
                    **ticket.model_dump(),
                }
                by_key[idempotency_key] = ticket_id
            return tickets[by_key[idempotency_key]]

    @app.get("/tickets/{ticket_id}", operation_id="getTicket")
    def get_ticket(
        ticket_id: Annotated[str, PathParam(pattern=r"^T-\d{4}$")], customer_id: str
    ) -> dict[str, Any]:
        """Look up one of the customer's support tickets."""
        found = tickets.get(ticket_id)
        if found is None or found["customer_id"] != customer_id:
            raise HTTPException(404, "no such ticket")
        return found

    return app


def write_spec() -> None:
    import yaml

    SPEC.write_text(
        "# Written by `python tickets_service.py --write-spec`; do not edit by hand.\n"
        + yaml.safe_dump(create_app().openapi(), sort_keys=False),
        encoding="utf-8",
    )


if __name__ == "__main__":
    if "--write-spec" in sys.argv:
        write_spec()
    else:
        import uvicorn

        port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8766
        uvicorn.run(create_app(), host="127.0.0.1", port=port)

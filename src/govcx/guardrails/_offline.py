"""Keep the third-party engines behind the guards offline and quiet.

guardrails-ai sends anonymous telemetry by default and runs validators through an
event loop unless told otherwise; tldextract (used by Presidio's email recognizer)
downloads the public suffix list on first use. Both would make a guard call wait on
the network, so this module pins them to their offline behaviour. Import it (or call
:func:`configure_offline`) before guardrails-ai is imported anywhere.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

_ENV_DEFAULTS = {
    # Validators run in the calling thread, not through an asyncio loop.
    "GUARDRAILS_RUN_SYNC": "true",
    # litellm (pulled in by guardrails-ai) would fetch its model cost map at import.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    # guardrails-ai's OpenTelemetry tracing has nowhere to send spans offline.
    "OTEL_SDK_DISABLED": "true",
}


@cache
def configure_offline() -> None:
    """Set the process-wide switches that keep guardrails-ai and litellm off the network.

    These are process settings read by third-party code, not govcx configuration, so
    they are set here once (without overriding an explicit value from the operator).
    """
    for key, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


@cache
def offline_tld_extractor() -> Any:
    """A tldextract extractor that only uses the snapshot bundled with the package."""
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


configure_offline()

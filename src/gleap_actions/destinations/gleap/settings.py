"""The Gleap destination's settings: the secret API token, the API base URL and the request timeout."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://api.gleap.io"
DEFAULT_TIMEOUT = 10.0  # seconds, Segment's request timeout


@dataclass(frozen=True, slots=True)
class GleapSettings:
    """Segment's one setting (`apiToken`, "Secret API token", required), Gleap's base URL and a timeout.

    The token never appears in `repr()` (and so in logs or tracebacks that print the settings).
    """

    api_token: str
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not isinstance(self.api_token, str):
            raise ValueError("The Gleap API token must be a string.")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"The Gleap base URL must start with http:// or https://, got {self.base_url!r}."
            )
        if not self.timeout > 0:
            raise ValueError(f"The Gleap timeout must be a positive number of seconds, got {self.timeout!r}.")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def __repr__(self) -> str:
        return f"GleapSettings(api_token='***', base_url={self.base_url!r}, timeout={self.timeout!r})"

"""The Gleap destination's settings: the secret API token, the API base URL and the request timeout."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_BASE_URL = "https://api.gleap.io"
DEFAULT_TIMEOUT = 10.0  # seconds, Segment's request timeout
# Salts the token fingerprint so that it cannot be looked up in a table of hashes of known tokens.
_FINGERPRINT_SALT = b"gleap-actions destination fingerprint\0"


def shown_url(url: str) -> str:
    """`url` fit to print: credentials in it (`https://user:TOKEN@host`) become `***`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


@dataclass(frozen=True, slots=True)
class GleapSettings:
    """Segment's one setting (`apiToken`, "Secret API token", required), Gleap's base URL and a timeout.

    The token never appears in `repr()` (and so in logs or tracebacks that print the settings), nor
    credentials written into the base URL.
    """

    api_token: str
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not isinstance(self.api_token, str):
            raise ValueError("The Gleap API token must be a string.")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"The Gleap base URL must start with http:// or https://, got {shown_url(self.base_url)!r}."
            )
        if not self.timeout > 0:
            raise ValueError(f"The Gleap timeout must be a positive number of seconds, got {self.timeout!r}.")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def __repr__(self) -> str:
        shown = shown_url(self.base_url)
        return f"GleapSettings(api_token='***', base_url={shown!r}, timeout={self.timeout!r})"

    @property
    def destination(self) -> str:
        """Where events go, safe to store and show: the base URL and a short salted hash of the token
        (`https://api.gleap.io token:1a2b3c4d5e6f`), never the token."""
        digest = hashlib.sha256(_FINGERPRINT_SALT + self.api_token.encode()).hexdigest()[:12]
        return f"{self.base_url} token:{digest}"

"""The error types of the engine and of delivery.

Every error a user can cause (a bad mapping, trigger, payload or config) is a subclass of
`ActionsError` whose message names the location and the problem. Delivery outcomes form the
taxonomy the pipeline acts on: final payload rejections, credential failures that pause delivery,
retryable failures, and final HTTP errors.
"""

from __future__ import annotations


class ActionsError(Exception):
    """Base of every documented error raised by gleap-actions."""


class MappingValidationError(ActionsError, ValueError):
    """A mapping is malformed. `errors` lists every problem, each prefixed by its JSON-pointer location."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class MappingRuntimeError(ActionsError, ValueError):
    """Resolving a (valid) mapping against an event failed, e.g. `data must be an object, got array`."""


class FqlSyntaxError(ActionsError, ValueError):
    """A trigger is malformed. `column` is 1-based; the message says what was expected there."""

    def __init__(self, message: str, *, text: str, column: int) -> None:
        self.text = text
        self.column = column
        self.reason = message
        super().__init__(f"{message} at column {column}")


class PayloadValidationError(ActionsError, ValueError):
    """An event's mapped payload fails the action's field schema. Final: status 400."""

    status = 400
    code = "PAYLOAD_VALIDATION_FAILED"


class ConfigError(ActionsError, ValueError):
    """The configuration is invalid. `errors` lists every problem as `location: message`."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class DeliveryError(ActionsError):
    """Base of the outcomes of a failed request to the destination."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class InvalidCredentialsError(DeliveryError):
    """401/403 from the destination: delivery pauses and alerts instead of dead-lettering."""


class RetryableError(DeliveryError):
    """408, 423, 429, 5xx except 501, timeouts and network errors. `retry_after` is in seconds."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class FinalHTTPError(DeliveryError):
    """Any other non-2xx answer: final, dead-lettered with the request and response."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "", path: str = "") -> None:
        super().__init__(message, status=status)
        self.body = body
        self.path = path  # the URL path the answer is for, as sent

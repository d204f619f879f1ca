"""API errors and the ``Status`` bodies a real kube-apiserver sends for them.

Every failure the emulator reports is an :class:`ApiError`; :meth:`ApiError.status` renders
the ``metav1.Status`` body (``reason``, ``code``, ``details``) in the same shape and with the
same message wording as the apiserver, so client code that branches on ``reason`` or parses
``details`` behaves the same here and on a real cluster.
"""

from __future__ import annotations

from typing import Any

#: HTTP code -> Status reason, as used by the apiserver for generic errors.
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

#: Messages of generic errors without a resource, worded like the apiserver's.
GENERIC_MESSAGES: dict[int, str] = {
    400: "the server rejected our request for an unknown reason",
    401: "Unauthorized",
    403: "forbidden",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    409: "the server reported a conflict",
    410: "the resource is gone",
    415: "the server does not support the media type",
    422: "the server rejected our request due to an error in our request",
    429: "the server has received too many requests and has asked us to try again later",
    500: "an error on the server has prevented the request from succeeding",
    503: "the server is currently unable to handle the request",
    504: (
        "the server was unable to return a response in the time allotted, "
        "but may still be processing the request"
    ),
}


class ApiError(Exception):
    """An error answered with a ``Status`` body.

    :param code: HTTP status code.
    :param reason: ``Status.reason`` (``NotFound``, ``AlreadyExists``, ``Conflict``...).
    :param message: ``Status.message``.
    :param details: ``Status.details`` or None.
    :param retry_after: seconds for a ``Retry-After`` header (and ``details.retryAfterSeconds``).
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after: int = 0,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        """Return the ``Status`` body for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # a storage-layer error has none
            body["reason"] = self.reason
        details = dict(self.details) if self.details else {}
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        if details or self.details is not None:  # ``{}`` is sent as an empty details object
            body["details"] = details
        body["code"] = self.code
        return body

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


def qualified(plural: str, group: str) -> str:
    """Return ``plural`` or ``plural.group``, as in apiserver messages (``deployments.apps``)."""
    return f"{plural}.{group}" if group else plural


def _details(name: str, plural: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    """``404 NotFound`` for one named object."""
    return ApiError(
        404, "NotFound", f'{qualified(plural, group)} "{name}" not found', _details(name, plural, group)
    )


def path_not_found() -> ApiError:
    """``404 NotFound`` for a path the server does not serve."""
    return ApiError(404, "NotFound", GENERIC_MESSAGES[404], {})


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """``409 AlreadyExists`` on create."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        _details(name, plural, group),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    """``409 Conflict``: a stale ``resourceVersion`` or a failed precondition."""
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        _details(name, plural, group),
    )


class FieldError:
    """One validation error: ``field``, cause ``reason`` and the human text."""

    def __init__(self, field: str, reason: str, text: str) -> None:
        self.field = field
        self.reason = reason
        self.text = text

    @classmethod
    def required(cls, field: str, detail: str = "") -> FieldError:
        return cls(field, "FieldValueRequired", "Required value" + (f": {detail}" if detail else ""))

    @classmethod
    def invalid(cls, field: str, value: Any, detail: str) -> FieldError:
        return cls(field, "FieldValueInvalid", f"Invalid value: {_go_repr(value)}: {detail}")

    @classmethod
    def forbidden(cls, field: str, detail: str) -> FieldError:
        return cls(field, "FieldValueForbidden", f"Forbidden: {detail}")

    @classmethod
    def unsupported(cls, field: str, value: Any, supported: list[str]) -> FieldError:
        quoted = ", ".join(f'"{s}"' for s in supported)
        return cls(
            field,
            "FieldValueNotSupported",
            f"Unsupported value: {_go_repr(value)}: supported values: {quoted}",
        )

    @classmethod
    def duplicate(cls, field: str, value: Any) -> FieldError:
        return cls(field, "FieldValueDuplicate", f"Duplicate value: {_go_repr(value)}")

    @classmethod
    def immutable(cls, field: str, value: Any) -> FieldError:
        return cls(field, "FieldValueInvalid", f"Invalid value: {_go_repr(value)}: field is immutable")

    def __str__(self) -> str:
        return f"{self.field}: {self.text}"


def _go_repr(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """``422 Invalid`` with one cause per field error, worded like the apiserver."""
    summary = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": e.reason, "message": e.text, "field": e.field} for e in errors]
    return ApiError(
        422, "Invalid", f'{kind}{"." + group if group else ""} "{name}" is invalid: {summary}', details
    )


def bad_request(message: str) -> ApiError:
    """``400 BadRequest``."""
    return ApiError(400, "BadRequest", message)


def forbidden(
    plural: str, group: str, name: str, why: str, causes: list[dict[str, str]] | None = None
) -> ApiError:
    """``403 Forbidden`` for an object (``pods "x" is forbidden: ...``)."""
    details = _details(name, plural, group)
    if causes:
        details["causes"] = causes
    target = f'{qualified(plural, group)} "{name}"' if name else qualified(plural, group)
    return ApiError(403, "Forbidden", f"{target} is forbidden: {why}", details)


def method_not_allowed() -> ApiError:
    """``405 MethodNotAllowed``."""
    return ApiError(405, "MethodNotAllowed", GENERIC_MESSAGES[405])


def unsupported_media_type(content_type: str) -> ApiError:
    """``415 UnsupportedMediaType`` (a PATCH whose Content-Type is no patch type)."""
    return ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})


def too_many_requests(message: str, causes: list[dict[str, str]], retry_after: int = 0) -> ApiError:
    """``429 TooManyRequests`` (eviction blocked by a PodDisruptionBudget)."""
    return ApiError(429, "TooManyRequests", message, {"causes": causes}, retry_after=retry_after)


def internal(message: str) -> ApiError:
    """``500 InternalError``."""
    return ApiError(
        500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]}
    )


def unauthorized() -> ApiError:
    """``401 Unauthorized``."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def expired(message: str) -> ApiError:
    """``410 Expired`` (a watch from a compacted resourceVersion)."""
    return ApiError(410, "Expired", message)


def for_status(
    code: int, plural: str = "", group: str = "", name: str = "", message: str | None = None
) -> ApiError:
    """An error for an arbitrary HTTP code, as the apiserver would word it (used by fault injection)."""
    reason = REASONS.get(code, "InternalError" if code >= 500 else "BadRequest")
    if code == 404 and plural and name:
        err = not_found(plural, group, name)
    elif code == 409 and plural and name:
        err = conflict(plural, group, name)
    elif code == 500:
        err = internal(message or "injected fault")
        return err
    else:
        details: dict[str, Any] = _details(name, plural, group) if plural and name else {}
        if code == 429:
            details["retryAfterSeconds"] = 1
        err = ApiError(code, reason, GENERIC_MESSAGES.get(code, f"unknown error ({code})"), details or None)
    if message:
        err.message = message
    return err

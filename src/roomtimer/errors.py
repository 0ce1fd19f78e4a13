"""Domain errors: each carries its HTTP status and the contract's error code."""

from typing import Any


class AppError(Exception):
    """Base of every error a client may see; mapped to the contract's error shape."""

    status = 500
    code = "internal_error"
    message = "Internal server error"

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details


class InvalidJson(AppError):
    status, code, message = 400, "invalid_json", "Request body is not valid JSON"


class ValidationFailed(AppError):
    status, code, message = 400, "validation_error", "Invalid request body"


class Unauthorized(AppError):
    status, code, message = 401, "unauthorized", "Missing, invalid or expired token"


class Forbidden(AppError):
    status, code, message = 403, "forbidden", "You do not own this resource"


class NotFound(AppError):
    status, code, message = 404, "not_found", "Not found"


class MethodNotAllowed(AppError):
    status, code, message = 405, "method_not_allowed", "Method not allowed"

    def __init__(self, method: str, allowed: list[str]):
        super().__init__(f"Method {method} not allowed")
        self.allowed = allowed


class InvalidTransition(AppError):
    status, code, message = 409, "invalid_transition", "Invalid timer transition"


class IdempotencyConflict(AppError):
    status, code = 422, "idempotency_conflict"
    message = "This Idempotency-Key was used with another method, path or body"


class PayloadTooLarge(AppError):
    status, code, message = 413, "payload_too_large", "Request body is too large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_media_type"
    message = "Content-Type must be application/json"


class RateLimited(AppError):
    status, code, message = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after_s: int):
        super().__init__(f"Too many requests; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Unavailable(AppError):
    status, code, message = 503, "unavailable", "Service temporarily unavailable"

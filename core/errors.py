"""Domain errors: services raise these; the API exception handler turns them into HTTP."""


class DomainError(Exception):
    status_code = 400
    error_code = "BAD_REQUEST"

    def __init__(self, message: str = "", *, error_code: str | None = None, status_code: int | None = None, **extra):
        super().__init__(message or self.error_code)
        self.message = message or self.error_code
        if error_code:
            self.error_code = error_code
        if status_code:
            self.status_code = status_code
        self.extra = extra


class Forbidden(DomainError):
    status_code = 403
    error_code = "FORBIDDEN"


class InvalidParameter(DomainError):
    status_code = 400
    error_code = "INVALID_PARAMETER"


class Conflict(DomainError):
    status_code = 409
    error_code = "CONFLICT"

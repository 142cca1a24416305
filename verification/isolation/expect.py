"""What each persona must get from a route: the expectations the probes check answers against."""

import abc
import json
import re
from dataclasses import dataclass

from django.urls import reverse

# --- expectations ----------------------------------------------------------------------------------


@dataclass
class Answer:
    """What the server said: the first response, and where its redirects (if any) ended."""

    status: int
    error_code: str
    location: str
    final_status: int
    final_path: str
    bodies: list[str]

    def shape(self) -> tuple:
        """What a caller can tell apart, ids in paths aside."""
        return (self.status, self.error_code, self.final_status, re.sub(r"\d+", "N", self.final_path))

    def short(self) -> str:
        text = f"{self.status}" + (f" {self.error_code}" if self.error_code else "")
        if self.location:
            text += f" -> {self.final_path} {self.final_status}"
        return text


class Expect(abc.ABC):
    label = ""

    @abc.abstractmethod
    def problem(self, answer: Answer) -> str | None:
        """Why the answer breaks the expectation, or None when it holds."""


@dataclass(frozen=True)
class ApiDenied(Expect):
    status: int = 403
    codes: tuple[str, ...] = ("FORBIDDEN",)

    @property
    def label(self):
        return f"{self.status} {'/'.join(self.codes)}"

    def problem(self, a):
        if a.status != self.status or a.error_code not in self.codes:
            return f"expected {self.label} got {a.short()}"
        return None


@dataclass(frozen=True)
class ApiUnauthenticated(Expect):
    label = "401"

    def problem(self, a):
        return None if a.status == 401 else f"expected 401 got {a.short()}"


@dataclass(frozen=True)
class LoginRedirect(Expect):
    """HTML pages send anonymous callers to the login page (through the admin's own login URL)."""

    label = "redirect to login"

    def problem(self, a):
        if (
            a.status not in (301, 302, 303, 307, 308)
            or a.final_path != reverse("account_login")
            or a.final_status != 200
        ):
            return f"expected {self.label} got {a.short()}"
        return None


@dataclass(frozen=True)
class NoAccess(Expect):
    """An authenticated person outside the scope of an HTML page: 403, possibly after the site's
    own redirects (<id>/ → <id>/change/)."""

    label = "403"

    def problem(self, a):
        return None if a.final_status == 403 else f"expected 403 got {a.short()}"


@dataclass(frozen=True)
class Reachable(Expect):
    """An answer in `statuses` (own data, public probes, self-service pages); the leak check on
    markers does the real work."""

    statuses: tuple[int, ...] = (200,)
    label_text: str = "200"

    @property
    def label(self):
        return self.label_text

    def problem(self, a):
        return None if a.final_status in self.statuses else f"expected {self.label} got {a.short()}"


@dataclass(frozen=True)
class ScopedOrDenied(Expect):
    """A list in the caller's scope (200) or none at all (403); never rows of the other scope."""

    label = "no rows of the other scope"

    def problem(self, a):
        return None if a.final_status in (200, 403) else f"expected 200 without foreign rows or 403, got {a.short()}"


@dataclass(frozen=True)
class SiteFigures(Expect):
    """200 listing exactly these sites with these miner totals (the caller's miners only), and
    collector details only when `collectors` (operators)."""

    miners: tuple[tuple[str, int], ...]
    collectors: bool

    @property
    def label(self):
        return f"200 sites {dict(self.miners)}" + (" with collectors" if self.collectors else " without collectors")

    def problem(self, a):
        if a.status != 200:
            return f"expected {self.label} got {a.short()}"
        try:
            sites = json.loads(a.bodies[0])["sites"]
            got = tuple(sorted((s["site_id"], sum(s["miners"].values())) for s in sites))
        except (ValueError, KeyError, TypeError, AttributeError):
            return "expected a JSON object with `sites`"
        if got != self.miners:
            return f"expected sites and miner counts {self.miners} got {got}"
        if any((s["collectors"] is not None) != self.collectors for s in sites):
            return (
                "collector details shown to a customer"
                if not self.collectors
                else "collector details missing for an operator"
            )
        return None


@dataclass(frozen=True)
class LikeAnonymous(Expect):
    """A personal token on a page that takes sessions only: it must change nothing — the runner
    asks the same anonymously and compares (problem() sees that pair's verdict)."""

    label = "token ignored: as anonymous"

    def problem(self, a):
        return None


@dataclass(frozen=True)
class OrDenied(Expect):
    """`inner`, or a 403: a persona narrower than the one the probe was written for (an object
    grant) may be refused more, never shown more (the markers still apply)."""

    inner: Expect

    @property
    def label(self):
        return f"{self.inner.label} or 403"

    def problem(self, a):
        inner = self.inner.problem(a)
        return None if inner is None or a.final_status == 403 else inner


PUBLIC = Reachable(statuses=(200, 503), label_text="public, no tenant data")
SELF_SERVICE = Reachable(statuses=(200, 403, 404), label_text="own account only")

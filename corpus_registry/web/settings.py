"""How one server runs: who may read, how cookies are sent, where proposed sources' files are."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class WebSettings:
    #: False: every page needs a signed-in account (a takedown request can still be filed).
    anonymous_read: bool = True
    #: Send cookies with ``Secure`` even over plain HTTP (behind a TLS-terminating proxy).
    secure_cookies: bool = False
    #: Relative reader paths of accepted source proposals are resolved from here.
    catalogue_dir: Path = field(default_factory=Path.cwd)
    #: The key signing cookies and CSRF tokens; None: the registry's own (made once, kept in its settings).
    secret: str | None = None
    #: Seconds between two checks of whether the registry's counts changed (sources page, facets).
    counts_recheck_s: float = 5.0

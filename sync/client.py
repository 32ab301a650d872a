"""Talking to HQ over HTTPS: push a batch, pull the taxonomy and HQ's answers, ask who we are.

Every failure becomes an `HQError` whose message a person at the counter can act
on, and which says whether trying again later may help (`transient`) and how long
HQ asked us to wait (`retry_after`). Imports nothing of the terminal app.
"""

from __future__ import annotations

import gzip
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
import msgspec

from schemas.records import BatchResult, ErrorBody, ResponsesPage, StoreDemand, WhoAmI

AnswerT = TypeVar("AnswerT", bound=msgspec.Struct)  # the type of an answer HQ sends

API = "/v1"
USER_AGENT = "associate-terminal-sync/1"
# Connecting is quick or it is not happening; HQ commits a batch before answering,
# so give the answer longer.
TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
GZIP_LEVEL = 1  # ~3x smaller for a few ms of CPU; higher levels barely shrink more


class HQError(Exception):
    """HQ could not take what we sent; the message says what to do."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Offline(HQError):
    """HQ could not be reached, or the answer did not arrive whole: try again later."""

    transient = True


class HQBusy(HQError):
    """HQ answered 429 or 5xx: try again later, after Retry-After if it gave one."""

    transient = True


class CertificateRefused(HQError):
    """HQ's TLS certificate did not verify: never talk to it, and do not retry in a loop."""


class TokenRefused(HQError):
    """401: the token is missing, wrong or revoked. Only enrolling again helps."""


class Forbidden(HQError):
    """403: the token belongs to another store or terminal than the batch names."""


class BatchRefused(HQError):
    """4xx for the batch as a whole (too large, malformed): sending it again will not help."""


@dataclass(frozen=True)
class Taxonomy:
    etag: str | None
    body: bytes | None  # None: unchanged since `etag`


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """Certificates are always checked: against httpx's CA bundle, or a site's own CA file."""
    if verify is False:
        raise ValueError("TLS verification cannot be turned off")
    if verify is True:
        return True
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateRefused(
            f"Cannot use the CA file {verify} ({exc.strerror or exc}): fix hq_ca_file in the config "
            "to point at a readable PEM file of HQ's CA certificates."
        ) from None


class HQClient:
    """One HTTP connection pool to HQ, authenticated with this terminal's token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        verify: bool | str = True,
        timeout: httpx.Timeout = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT},
            verify=ssl_context(verify),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HQClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ---------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        response = self._request("GET", f"{API}/whoami")
        return self._decode(response, WhoAmI)

    def push(self, body: bytes) -> BatchResult:
        """Send one batch (JSON bytes); HQ has committed it when this returns."""
        compressed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        response = self._request(
            "POST",
            f"{API}/batches",
            content=compressed,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        return self._decode(response, BatchResult)

    def taxonomy(self, etag: str | None) -> Taxonomy:
        headers = {"If-None-Match": etag} if etag else {}
        response = self._request("GET", f"{API}/taxonomy", headers=headers)
        if response.status_code == 304:
            return Taxonomy(etag=etag, body=None)
        return Taxonomy(etag=response.headers.get("ETag"), body=response.content)

    def responses(self, after: int, *, limit: int | None = None) -> ResponsesPage | None:
        """HQ's answers about demand groups changed after the cursor `after`; None from an HQ older than the route."""
        params = {"after": after, **({"limit": limit} if limit is not None else {})}
        response = self._optional("GET", f"{API}/responses", params=params)
        return None if response is None else self._decode(response, ResponsesPage)

    def store_demand(self) -> StoreDemand | None:
        """This store's unmet asks per demand group (7 and 30 days); None from an HQ older than the route."""
        response = self._optional("GET", f"{API}/store-demand")
        return None if response is None else self._decode(response, StoreDemand)

    # -- plumbing ------------------------------------------------------------

    def _optional(self, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        """A route a newer HQ has: None when HQ answers 404 (it predates it), so the rest of a sync goes on."""
        try:
            return self._request(method, path, **kwargs)
        except BatchRefused as error:
            if error.status == 404:
                return None
            raise

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        where = self.base_url
        try:
            response = self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
            response.read()
            # httpx's response and its stream refer to each other, so once read (and closed) the pair, with the
            # request and its batch, would wait for a full garbage collection: during a long drain hundreds of
            # them did, and the sync process grew with the backlog. Without the stream, they go at once.
            response.stream = httpx.ByteStream(b"")
        except httpx.TimeoutException as error:
            raise Offline(f"HQ at {where} did not answer in time ({type(error).__name__}); will try again.") from error
        except httpx.ConnectError as error:
            if "CERTIFICATE_VERIFY_FAILED" in str(error):
                raise CertificateRefused(
                    f"HQ's certificate at {where} could not be verified; ask IT to check the address "
                    "or set hq_ca_file in the config to the CA that signed it."
                ) from error
            raise Offline(f"Offline: cannot reach HQ at {where}.") from error
        except httpx.TransportError as error:
            raise Offline(f"The connection to HQ at {where} broke ({type(error).__name__}); will try again.") from error
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def _error(self, response: httpx.Response) -> HQError:
        status = response.status_code
        try:
            said = msgspec.json.decode(response.content, type=ErrorBody).message
        except (msgspec.DecodeError, msgspec.ValidationError):
            said = response.reason_phrase or "no explanation"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            return TokenRefused(
                f"HQ refused this terminal's token ({said}). Ask IT for a new token and run "
                "`associate enroll URL --token TOKEN`.",
                status=status,
            )
        if status == 403:
            return Forbidden(f"HQ refused: {said}", status=status)
        if status == 429 or status >= 500:
            return HQBusy(f"HQ is busy or down (HTTP {status}: {said}); will try again.", status=status, retry_after=retry_after)
        return BatchRefused(f"HQ refused the request (HTTP {status}): {said}", status=status)

    @staticmethod
    def _decode(response: httpx.Response, kind: type[AnswerT]) -> AnswerT:
        try:
            return msgspec.json.decode(response.content, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            # A cut-off answer: what we sent is safe to send again (HQ keeps one copy).
            raise Offline(f"HQ's answer arrived incomplete or garbled ({error}); will try again.") from error


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))

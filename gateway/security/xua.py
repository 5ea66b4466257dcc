"""CH:XUA in the pipeline: the X-User Assertion of a request, verified, turned into a Principal.

:class:`XuaSecurity` is the pipeline's ``SecurityHeader``. For a transaction with
``security=SECURITY_XUA`` the request must carry exactly one signed SAML 2.0 Assertion in
``wsse:Security``; for ``SECURITY_TLS`` / ``SECURITY_NONE`` the TLS identity alone is kept (an
assertion there is not read: ITI-45/47/55 are not grouped with XUA).

Signature wrapping is impossible by construction (:meth:`AssertionVerifier.verify`):

1. the envelope holds exactly one ``saml2:Assertion`` element, a direct child of the one
   ``wsse:Security`` header; no other element of the envelope carries its ID;
2. that element is serialized and parsed again on its own: the verified document is a copy that
   nothing else in the message can reach into;
3. the signature's shape is fixed (:func:`gateway.security.signature.check_shape`): one enveloped
   signature, Reference URI = ``#`` + the root's ID, exactly the transforms enveloped + exc-c14n;
   libxmlsec1 knows only the root's ID, so the reference resolves to the root or fails;
4. the claims are read from that same root (:func:`profiles.xua.claims.read_claims`), never from the
   envelope.

Verification is cached by the SHA-256 of the assertion's bytes (bounded LRU): a holder reuses its
assertion for several requests during its life; the time window is checked on every use.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable

from lxml import etree

from gateway.pipeline import SECURITY_XUA, Transaction
from gateway.security import faults
from gateway.security.signature import SignatureProblem, check_shape, verify_signature
from gateway.security.trust import TrustStore, pem_of
from gateway.soap.envelope import NS_SOAP11, NS_SOAP12, NS_WSSE, SoapRequest
from gateway.soap.fault import SoapFault
from gateway.soap.xml import parse_xml
from profiles.context import Principal, RequestContext
from profiles.xua.claims import XuaClaims, read_claims
from profiles.xua.constants import AUDIENCE_ALL_COMMUNITIES, NS_SAML2
from profiles.xua.errors import XuaError

_SAML = "{%s}" % NS_SAML2
_WSSE = "{%s}" % NS_WSSE
_WSU_ID = "{%s}Id" % faults.NS_WSU
_ID_ATTRIBUTES = ("ID", "Id", "id", _WSU_ID, "{http://www.w3.org/XML/1998/namespace}id")
#: how many elements of the envelope carry this ID value (in any of the usual ID attributes)
_SAME_ID = etree.XPath("count(//@ID[.=$id] | //@Id[.=$id] | //@id[.=$id] | //@wsu:Id[.=$id] | //@xml:id[.=$id])",
                       namespaces={"wsu": faults.NS_WSU})
#: token elements that are not a SAML 2.0 assertion (-> wsse:UnsupportedSecurityToken)
_OTHER_TOKENS = {"{urn:oasis:names:tc:SAML:1.0:assertion}Assertion", _WSSE + "UsernameToken",
                 _WSSE + "BinarySecurityToken", _WSSE + "SecurityTokenReference"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _problem_fault(problem: SignatureProblem) -> SoapFault:
    if problem.kind == "algorithm":
        return faults.unsupported_algorithm(problem.message)
    return faults.failed_check(problem.message)


@dataclass
class VerifierStats:
    verified: int = 0
    cache_hits: int = 0


class AssertionVerifier:
    """Finds, verifies and reads the X-User Assertion of a SOAP request.

    :param trust: the trusted X-Assertion Provider certificates.
    :param clock_skew: seconds tolerated around NotBefore / NotOnOrAfter.
    :param cache_size: verified assertions kept (by digest).
    :param audiences: AudienceRestriction values accepted (one of them must be named, if any is).
    :param now: the clock (tests).
    """

    def __init__(self, trust: TrustStore, *, clock_skew: float = 60, cache_size: int = 1024,
                 audiences: tuple[str, ...] = (AUDIENCE_ALL_COMMUNITIES,),
                 now: Callable[[], dt.datetime] = _utcnow) -> None:
        self.trust = trust
        self.clock_skew = clock_skew
        self.cache_size = max(0, cache_size)
        self.audiences = audiences
        self.now = now
        self._cache: OrderedDict[bytes, XuaClaims] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = VerifierStats()

    # -- the envelope ----------------------------------------------------------------------------
    def find_assertion(self, envelope: etree._Element, header: etree._Element | None, *,
                       payload_assertions: bool = False) -> etree._Element:
        """The one assertion of the request (checks 1 of the module docstring). ``payload_assertions``:
        the Body's own saml2:Assertion elements are the transaction's payload (CH:PPQ-1 policy sets)
        and not counted; the headers still hold exactly one, and its ID is unique in the envelope."""
        securities = [h for h in (header if header is not None else ()) if h.tag == _WSSE + "Security"]
        if not securities:
            raise faults.missing()
        if len(securities) > 1:
            raise faults.invalid_security("the request carries more than one wsse:Security header")
        security = securities[0]
        tokens = [c for c in security if isinstance(c.tag, str) and c.tag == _SAML + "Assertion"]
        if not tokens:
            other = [c.tag for c in security if isinstance(c.tag, str) and c.tag in _OTHER_TOKENS]
            if other:
                raise faults.unsupported_token(f"only a SAML 2.0 assertion is accepted in wsse:Security, "
                                               f"not {etree.QName(other[0]).localname}")
            raise faults.missing()
        body = next((c for c in envelope if c.tag in _SOAP_BODIES), None)
        everywhere = sum(1 for a in envelope.iter(_SAML + "Assertion")
                         if not (payload_assertions and body is not None and _inside(a, body)))
        if len(tokens) != 1 or everywhere != 1:
            raise faults.invalid_security("the request must carry exactly one SAML assertion "
                                          f"(found {everywhere})")
        assertion = tokens[0]
        assertion_id = assertion.get("ID")
        if not assertion_id:
            raise faults.invalid_security("the assertion has no ID")
        if _SAME_ID(envelope, id=assertion_id) != 1.0:
            raise faults.invalid_security("the assertion's ID is not unique in the message")
        return assertion

    # -- the assertion ---------------------------------------------------------------------------
    def verify(self, envelope: etree._Element, header: etree._Element | None, *,
               payload_assertions: bool = False) -> XuaClaims:
        """The verified claims of the request's assertion; raises :class:`SoapFault` (WS-Security).
        ``payload_assertions``: see :meth:`find_assertion`."""
        assertion = self.find_assertion(envelope, header, payload_assertions=payload_assertions)
        data = etree.tostring(assertion, with_tail=False)   # in-scope namespace declarations included
        key = hashlib.sha256(data).digest()
        with self._lock:
            claims = self._cache.get(key)
            if claims is not None:
                self._cache.move_to_end(key)
                self.stats.cache_hits += 1
        if claims is None:
            claims = self._verify_bytes(data)
            with self._lock:
                self.stats.verified += 1
                if self.cache_size:
                    self._cache[key] = claims
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        try:
            claims.check_time(self.now(), self.clock_skew)
        except XuaError as exc:
            raise faults.fault_for(exc) from None
        return claims

    def verify_assertion_bytes(self, data: bytes) -> XuaClaims:
        """Verify a standalone assertion (the ``xua`` CLI, tests); time window checked."""
        claims = self._verify_bytes(data)
        try:
            claims.check_time(self.now(), self.clock_skew)
        except XuaError as exc:
            raise faults.fault_for(exc) from None
        return claims

    def _verify_bytes(self, data: bytes) -> XuaClaims:
        try:
            root = parse_xml(data)            # the standalone copy: checks 2-4 work on it alone
        except SoapFault as exc:
            raise faults.invalid_security(f"the assertion is not well-formed XML ({exc.reason})") from None
        if root.tag != _SAML + "Assertion":
            raise faults.invalid_security("not a SAML 2.0 assertion")
        if any(True for _ in root.iter(etree.Comment, etree.ProcessingInstruction)):
            raise faults.invalid_security("comments and processing instructions are not allowed in an assertion")
        if sum(1 for _ in root.iter(_SAML + "Assertion")) > 1:
            raise faults.invalid_security("an assertion inside the assertion is not accepted")
        ids = [el.get(a) for el in root.iter() if isinstance(el.tag, str) for a in _ID_ATTRIBUTES if el.get(a)]
        if len(ids) != len(set(ids)):
            raise faults.invalid_security("duplicate IDs in the assertion")
        try:
            shape = check_shape(root)
        except SignatureProblem as problem:
            raise _problem_fault(problem) from None
        now = self.now()
        if shape.certificate is not None:
            why = self.trust.problem(shape.certificate, now)
            if why is not None:
                raise faults.failed_authentication(why)
            candidates = [shape.certificate]
        else:
            candidates = [c for c in self.trust.signing_certificates if self.trust.problem(c, now) is None]
            if not candidates:
                raise faults.failed_authentication("no trusted X-Assertion Provider certificate to verify with")
        last: SignatureProblem | None = None
        for cert in candidates:
            try:
                verify_signature(root, shape, pem_of(cert))
                break
            except SignatureProblem as problem:
                last = problem
        else:
            raise _problem_fault(last)  # type: ignore[arg-type]
        try:
            return read_claims(root, assertion_bytes=data, audiences=self.audiences)
        except XuaError as exc:
            raise faults.fault_for(exc) from None


#: Transactions whose Body carries saml2:Assertion elements of its own (CH:PPQ-1: the policy sets of
#: Add/Update/DeletePolicy): not counted against "exactly one assertion" (see ``find_assertion``).
PAYLOAD_ASSERTION_TRANSACTIONS = frozenset({"PPQ-1"})
_SOAP_BODIES = ("{%s}Body" % NS_SOAP12, "{%s}Body" % NS_SOAP11)


def _inside(element: etree._Element, ancestor: etree._Element) -> bool:
    return any(a is ancestor for a in element.iterancestors())


class XuaSecurity:
    """The pipeline's security seam with CH:XUA (see the module docstring)."""

    understood: frozenset[str] = frozenset({NS_WSSE})

    def __init__(self, verifier: AssertionVerifier) -> None:
        self.verifier = verifier

    def authenticate(self, request: SoapRequest, transaction: Transaction, ctx: RequestContext) -> Principal:
        if transaction.security != SECURITY_XUA:
            return ctx.principal
        claims = self.verifier.verify(request.envelope, request.header,
                                      payload_assertions=transaction.name in PAYLOAD_ASSERTION_TRANSACTIONS)
        return replace(claims.principal, tls_subject=ctx.principal.tls_subject)

"""WS-Security 1.1 §12 faults for the security header (mapping: docs/decisions/007-xua-faults.md).

SOAP 1.2: ``env:Sender`` with the WS-Security QName as ``env:Subcode``; HTTP 400 (the SOAP 1.2 HTTP
binding for Sender). The reason says what was wrong with the caller's token, never what a verified
assertion or the trust store contains.
"""
from __future__ import annotations

from gateway.soap.envelope import NS_WSSE
from gateway.soap.fault import SoapFault
from profiles.xua import errors as E

NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

UNSUPPORTED_SECURITY_TOKEN = f"{{{NS_WSSE}}}UnsupportedSecurityToken"
UNSUPPORTED_ALGORITHM = f"{{{NS_WSSE}}}UnsupportedAlgorithm"
INVALID_SECURITY = f"{{{NS_WSSE}}}InvalidSecurity"
INVALID_SECURITY_TOKEN = f"{{{NS_WSSE}}}InvalidSecurityToken"
FAILED_AUTHENTICATION = f"{{{NS_WSSE}}}FailedAuthentication"
FAILED_CHECK = f"{{{NS_WSSE}}}FailedCheck"
SECURITY_TOKEN_UNAVAILABLE = f"{{{NS_WSSE}}}SecurityTokenUnavailable"
MESSAGE_EXPIRED = f"{{{NS_WSU}}}MessageExpired"

#: profiles.xua error kind -> fault subcode
_BY_KIND = {
    E.MALFORMED: INVALID_SECURITY_TOKEN,
    E.INVALID_CLAIMS: INVALID_SECURITY_TOKEN,
    E.NOT_YET_VALID: INVALID_SECURITY_TOKEN,
    E.EXPIRED: MESSAGE_EXPIRED,
}


def security_fault(subcode: str, reason: str) -> SoapFault:
    return SoapFault("Sender", reason, subcode=subcode)


def fault_for(error: E.XuaError) -> SoapFault:
    return security_fault(_BY_KIND.get(error.kind, INVALID_SECURITY_TOKEN), error.message)


def missing(reason: str = "the request carries no X-User Assertion in wsse:Security") -> SoapFault:
    return security_fault(SECURITY_TOKEN_UNAVAILABLE, reason)


def invalid_security(reason: str) -> SoapFault:
    return security_fault(INVALID_SECURITY, reason)


def failed_check(reason: str) -> SoapFault:
    return security_fault(FAILED_CHECK, reason)


def failed_authentication(reason: str) -> SoapFault:
    return security_fault(FAILED_AUTHENTICATION, reason)


def unsupported_algorithm(reason: str) -> SoapFault:
    return security_fault(UNSUPPORTED_ALGORITHM, reason)


def unsupported_token(reason: str) -> SoapFault:
    return security_fault(UNSUPPORTED_SECURITY_TOKEN, reason)

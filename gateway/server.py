"""The HTTP server of the gateway, by its public names (the modules that hold them):

* :class:`SoapEndpoint`, :class:`Operation` -- one SOAP 1.2 service URL (``gateway.http.soap_endpoint``;
  WSDL serving in ``gateway.http.wsdl``);
* :class:`HealthResource` -- ``GET /health`` (``gateway.http.health``);
* :func:`build_site`, :class:`GatewayRequest` -- the site, its limits and the balanced accept
  (``gateway.http.site``, ``gateway.http.limits``);
* :func:`run` -- the process model, one socket and N workers (``gateway.process``).

``python -m gateway.server`` is ``python -m gateway.process``.
"""
from __future__ import annotations

import sys

from gateway.http.health import HealthResource
from gateway.http.limits import WSA_UNSPECIFIED, GatewayChannel, GatewayRequest, request_too_large
from gateway.http.site import BalancedPort, GatewaySite, build_site
from gateway.http.soap_endpoint import Handler, HandlerEntry, Operation, SoapEndpoint
from gateway.process import run

__all__ = ["BalancedPort", "GatewayChannel", "GatewayRequest", "GatewaySite", "Handler", "HandlerEntry",
           "HealthResource", "Operation", "SoapEndpoint", "WSA_UNSPECIFIED", "build_site", "request_too_large", "run"]

if __name__ == "__main__":
    from gateway.process import main
    sys.exit(main())

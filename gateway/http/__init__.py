"""The HTTP transport of the gateway, on twisted.web.

* :mod:`gateway.http.limits` -- the request limits: body size (413 + Sender fault, the one place
  that fault is built), the time a connection has to complete its request headers.
* :mod:`gateway.http.site` -- the ``Site``: connection count and cap per worker, the balanced
  accept across worker processes sharing one listening socket.
* :mod:`gateway.http.soap_endpoint` -- one SOAP 1.2 service URL: POST runs the pipeline.
* :mod:`gateway.http.wsdl` -- the WSDL and schemas served at ``?wsdl`` / ``?xsd=``.
* :mod:`gateway.http.producer` -- streaming a reply's chunks to the transport.
* :mod:`gateway.http.health` -- ``GET /health``.
* :mod:`gateway.http.observe` -- the one log line and the metrics per request, taken where the
  reply is written; :mod:`gateway.http.metrics` -- Prometheus (``GET /metrics``).

The process model (listening socket, worker processes) is :mod:`gateway.process`.
"""

"""Transport security and station authentication.

``tls`` builds the listener's TLS context (AWS ELB policy), ``devcerts`` makes
development certificates, ``keys``/``basic_auth``/``throttle``/``station_auth``
implement OCPP 1.6 Security Profile 2 (HTTP Basic Auth with AuthorizationKey).
"""

"""A bundled, test-only TLS identity for the emulator's HTTPS endpoint.

kubectl (client-go) sends a kubeconfig's credentials only over TLS, so the emulator also
listens with HTTPS. The CA and the server key below are public test fixtures generated for
this project (server names: localhost, kube-emulator, kubernetes.default.svc; IPs 127.0.0.1,
::1; valid 2000-2125). They protect nothing: never use them outside tests and demos.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBhjCCASygAwIBAgIUIqeCdacUhnUUyygHOPLImi+kuyYwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVa3ViZS1lbXVsYXRvciB0ZXN0IENBMCAXDTAwMDEwMTAwMDAw
MFoYDzIxMjUwMTAxMDAwMDAwWjAgMR4wHAYDVQQDDBVrdWJlLWVtdWxhdG9yIHRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATJIOAo2gA3TPklLqQDI4ri
DcA+Lv+haAyXYfKlI3ZEcaI3nglUtX4TFU3VuoOnzDvfJa2NMeGnlLpwVVgYHM88
o0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQU
EpoTAeL2Q2jCAFV+wooPG0crMwMwCgYIKoZIzj0EAwIDSAAwRQIgaeqo6ARhMeFm
9yFWmYt/fnnloOaRNFcCfvjnpbaxj5ICIQD1ECB+WfpI1AYZGzGE9U+hfm4jo2mA
iH51cF0O6jo98g==
-----END CERTIFICATE-----
"""

SERVER_CERT_PEM = """\
-----BEGIN CERTIFICATE-----
MIICJzCCAc6gAwIBAgIUQFFCzTDL2QLhJKpR3pcSdb2Dx+AwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVa3ViZS1lbXVsYXRvciB0ZXN0IENBMCAXDTAwMDEwMTAwMDAw
MFoYDzIxMjUwMTAxMDAwMDAwWjAYMRYwFAYDVQQDDA1rdWJlLWVtdWxhdG9yMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzA1hVjzbMXW8Nfz9oIOaz8Xtf2wAqYT4
TcVc+t1Di4QpH0KgVlq2/81oEcIIX9dsshyg3ihP3T1HItyRz0z0o6OB6zCB6DAM
BgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIFoDATBgNVHSUEDDAKBggrBgEFBQcD
ATBzBgNVHREEbDBqgglsb2NhbGhvc3SCDWt1YmUtZW11bGF0b3KCCmt1YmVybmV0
ZXOCEmt1YmVybmV0ZXMuZGVmYXVsdIIWa3ViZXJuZXRlcy5kZWZhdWx0LnN2Y4cE
fwAAAYcQAAAAAAAAAAAAAAAAAAAAATAdBgNVHQ4EFgQUvRT8hdjY7TqA/76GJo1m
OS1oILQwHwYDVR0jBBgwFoAUEpoTAeL2Q2jCAFV+wooPG0crMwMwCgYIKoZIzj0E
AwIDRwAwRAIgPmmJ20tddsKDtzq4fqQzh0kDCGyvkVvuYU5QVNumsMQCIGXYWlpF
0ltHH0h3XGtTb52K9ga3+d5znsnYV0An/vyk
-----END CERTIFICATE-----
"""

SERVER_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXjdKH1RPgB74IA5t
XDEM4zJiw10zlxx0zUVu8sUmsQahRANCAATMDWFWPNsxdbw1/P2gg5rPxe1/bACp
hPhNxVz63UOLhCkfQqBWWrb/zWgRwghf12yyHKDeKE/dPUci3JHPTPSj
-----END PRIVATE KEY-----
"""


def server_context() -> ssl.SSLContext:
    """An ``SSLContext`` serving the bundled certificate (the key must go through a file)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="kube-emulator-tls-") as tmp:
        cert = Path(tmp) / "server.crt"
        key = Path(tmp) / "server.key"
        cert.write_text(SERVER_CERT_PEM + CA_PEM)
        key.write_text(SERVER_KEY_PEM)
        key.chmod(0o600)
        ctx.load_cert_chain(str(cert), str(key))
    return ctx

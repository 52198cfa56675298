"""A throw-away HTTPS certificate for test servers (the stub's ``--tls``, the Django test
backend's): WebKit keeps no Secure cookie over plain http://127.0.0.1."""

import atexit
import os
import shutil
import tempfile


def throwaway_certificate(host):
    """A CA and a certificate for ``host``, 127.0.0.1 and localhost (trustme, made at start and
    gone at exit): (uvicorn's ssl_keyfile, ssl_certfile, the CA's PEM path)."""
    import trustme  # only for --tls: a test dependency, not the stub's

    folder = tempfile.mkdtemp(prefix="authfetch-tls-")
    atexit.register(shutil.rmtree, folder, True)
    ca = trustme.CA()
    issued = ca.issue_cert(*dict.fromkeys([host, "127.0.0.1", "localhost"]))
    key, chain, authority = (os.path.join(folder, name) for name in ("key.pem", "chain.pem", "ca.pem"))
    issued.private_key_pem.write_to_path(key)
    with open(chain, "wb") as out:
        for blob in issued.cert_chain_pems:
            out.write(blob.bytes())
    ca.cert_pem.write_to_path(authority)
    return key, chain, authority

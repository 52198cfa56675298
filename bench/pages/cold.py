# Cold start with the Python API: the first authenticated response, reported to the page.
from pyscript import window

from authfetch import AuthClient

api = AuthClient("/api/v1", refresh_url="/api/v1/users/refresh-token")
response = await api.get("/users/profile")  # noqa: F704 (PyScript runs scripts with top-level await)
window.coldDone(response.status)

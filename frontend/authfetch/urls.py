"""URL parsing and resolution (RFC 3986 section 5.2), because MicroPython has no urllib.parse.

Only what authfetch needs: resolve a reference against a base, and tell a URL's origin.
"""

from .errors import UsageError

DEFAULT_PORTS = {"http": "80", "https": "443"}


def split(url):
    """(scheme, authority, path, query, fragment); missing parts are None."""
    fragment = query = None
    if "#" in url:
        url, fragment = url.split("#", 1)
    if "?" in url:
        url, query = url.split("?", 1)
    scheme = None
    colon = url.find(":")
    if colon > 0 and _is_scheme(url[:colon]):
        scheme, url = url[:colon].lower(), url[colon + 1 :]
    authority = None
    if url.startswith("//"):
        end = url.find("/", 2)
        end = len(url) if end < 0 else end
        authority, url = url[2:end], url[end:]
    return scheme, authority, url, query, fragment


def _is_scheme(text):
    if not text[0].isalpha():
        return False
    for char in text:
        if not (char.isalpha() or char.isdigit() or char in "+-."):
            return False
    return True


def _remove_dot_segments(path):
    out = []
    for segment in path.split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.endswith("/.") or path.endswith("/.."):
        out.append("")
    result = "/".join(out)
    return result if result.startswith("/") or not path.startswith("/") else "/" + result


def _join(scheme, authority, path, query, fragment):
    text = scheme + ":"
    if authority is not None:
        text += "//" + authority
    text += path
    if query is not None:
        text += "?" + query
    if fragment is not None:
        text += "#" + fragment
    return text


def resolve(base, reference, *, argument="url"):
    """Absolute http(s) URL for ``reference`` seen from ``base``; UsageError naming ``argument``."""
    if not isinstance(reference, str):
        raise UsageError(f"{argument} must be a string, got {type(reference).__name__}")
    for char in reference:
        if char in " \t\r\n\x00<>\\" or ord(char) < 0x20:
            raise UsageError(f"{argument} {reference!r} is not a valid URL (contains {char!r})")
    scheme, authority, path, query, fragment = split(reference)
    if scheme is None:
        b_scheme, b_authority, b_path, b_query, _ = split(base)
        scheme = b_scheme
        if authority is None:
            authority = b_authority
            if path == "":
                path = b_path
                if query is None:
                    query = b_query
            elif not path.startswith("/"):
                if b_authority is not None and b_path == "":
                    path = "/" + path
                else:
                    path = b_path[: b_path.rfind("/") + 1] + path
    path = _remove_dot_segments(path) if path else "/"
    if scheme not in DEFAULT_PORTS or not authority or "@" in authority:
        raise UsageError(f"{argument} {reference!r} is not a valid http(s) URL (resolved against {base!r})")
    host, port = _host_port(authority)
    if not host or (port is not None and not port.isdigit()):
        raise UsageError(f"{argument} {reference!r} has an invalid host or port")
    return _join(scheme, authority.lower(), path, query, fragment)


def _host_port(authority):
    if authority.startswith("["):  # IPv6 literal
        end = authority.find("]")
        host, rest = authority[: end + 1], authority[end + 1 :]
        return host, (rest[1:] if rest.startswith(":") else None)
    if ":" in authority:
        host, port = authority.rsplit(":", 1)
        return host, port
    return authority, None


def join(base, url, *, argument="url"):
    """A request URL under ``base`` (which ends in "/"), as httpx merges with its base_url.

    ``join("https://h/api/v1/", "/users/me") == "https://h/api/v1/users/me"``; absolute and
    scheme-relative URLs are kept as they are.
    """
    if isinstance(url, str) and split(url)[0] is None and not url.startswith("//"):
        url = base + url.lstrip("/")
    return resolve(base, url, argument=argument)


def origin(url):
    """``scheme://host[:port]`` of an absolute URL, with the default port left out."""
    scheme, authority, _, _, _ = split(url)
    host, port = _host_port((authority or "").lower())
    if port is None or port == "" or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def bare(url):
    """``origin + path`` of an absolute URL (as the browser's ``url.origin + url.pathname``):
    what no_refresh_for and the sign-in and sign-out URLs are compared by."""
    return origin(url) + (split(url)[2] or "/")


def without_fragment_and_query(url):
    return url.split("#", 1)[0].split("?", 1)[0]

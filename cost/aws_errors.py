"""AWS errors as one readable line, for messages that also say the fix.

    >>> explain(ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetCostAndUsage"))
    'AccessDenied: no'
"""

from __future__ import annotations


def explain(err: Exception) -> str:
    """One line: the AWS error code and message (an HTML error page becomes its HTTP status)."""
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    info = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = (info.get("Message") or "").strip()
    if not message or message.startswith("<"):
        message = f"HTTP {status}"
    code = str(info.get("Code") or "")
    return f"{code}: {message.splitlines()[0]}" if code and code != str(status) else message.splitlines()[0]

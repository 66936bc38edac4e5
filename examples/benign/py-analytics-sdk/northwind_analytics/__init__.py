"""Client for the Northwind Analytics API."""
import json
import urllib.request

__all__ = ["Client"]


class Client:
    def __init__(self, api_key, host="https://api.northwind-analytics.com"):
        self.api_key = api_key
        self.host = host

    def track(self, event, properties=None):
        body = json.dumps({"event": event, "properties": properties or {}}).encode()
        req = urllib.request.Request(self.host + "/v1/track", data=body,
                                     headers={"Authorization": "Bearer " + self.api_key,
                                              "Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(req, timeout=10).status
        except Exception:
            return None

"""The dashboard: server-rendered pages over the same answers the API gives."""

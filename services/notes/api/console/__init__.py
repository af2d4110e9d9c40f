"""The staff web console (issue 13): server-rendered pages on top of the staff API.

Mounted at ``/`` in the API app (same process, same port). Pages are Jinja2 templates with
a little hand-written JavaScript that calls the API's own ``/v1`` endpoints with the
session cookie; no build step, no CDN.
"""

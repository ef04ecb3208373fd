"""The HTTP API for other systems (shops, CDPs), at /api/v1/: send a campaign to recipients with
their own values, read messages, campaigns, templates and products. A thin edge: token auth
(`auth`), request and answer shapes (`schemas`), Idempotency-Key replays (`idempotency`), the
per-token rate (`throttling`) and the endpoints (`views`), which call services and selectors.
"""

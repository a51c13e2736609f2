"""One package per upstream: its client, page models, facts, transforms, sources and simulator
routes. Each declares itself in `upstream.py`; `app.orchestration.sources.registry` lists them."""

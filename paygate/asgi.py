"""The ASGI application for uvicorn (``paygate.asgi:app``), built from the environment."""

from functools import partial

from api.logging import configure
from api.main import create_app
from paygate.database import make_pool
from paygate.settings import get_settings

_settings = get_settings()
if _settings.database_url is None or _settings.redis_url is None:
    raise RuntimeError("paygate.asgi needs DATABASE_URL and REDIS_URL; `paygate api` sets them up for you")
configure(_settings.log_level)
app = create_app(_settings, _settings.redis_url, partial(make_pool, _settings, _settings.database_url, lean=True))

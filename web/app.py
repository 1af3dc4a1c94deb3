"""The aiohttp application: routes at the root and under /api/, the guards, and the shared state."""
from __future__ import annotations

from aiohttp import web

from .front_end import seed_first_visit_settings
from .plugin_routes import mount_plugin_routes
from .replies import errors_as_json
from .routes import (canvas, files, frontend_data, info, internal, jobs, model_browser, model_installs, prompts,
                     userdata, users, websocket, workflows)
from .routes.front_end import front_end_routes
from .security import add_security_headers, guard, is_loopback
from .state import ServerState

API_ROUTES = (prompts.routes, jobs.routes, files.routes, info.routes, model_installs.routes, users.routes,
              userdata.routes, websocket.routes, workflows.routes, frontend_data.routes, model_browser.routes)
# ComfyUI serves these at their own paths alone (no /api/ twin)
OWN_PATH_ROUTES = (internal.routes, frontend_data.template_routes, canvas.routes)


def create_app(state: ServerState) -> web.Application:
    """Every API route answers at /X and at /api/X, as ComfyUI's do; /internal/..., /templates/... and the canvas
    only at their own paths: the canvas at /, or at /loom/ when another front end is served (its files come after
    plugins' routes, so none of them can shadow a route)."""
    settings = state.settings
    app = web.Application(
        client_max_size=settings.max_upload_bytes + (1 << 20),
        middlewares=[errors_as_json, guard(is_loopback(settings.host), settings.auth_token)])
    app["state"] = state
    app.on_response_prepare.append(add_security_headers)
    for table in API_ROUTES:
        app.router.add_routes(table)
        for route in table:
            app.router.add_route(route.method, "/api" + route.path, route.handler)
    for table in OWN_PATH_ROUTES:
        app.router.add_routes(table)
    front_end = settings.front_end_root
    if front_end is None:
        app.router.add_get("/", canvas.canvas_page)
    mount_plugin_routes(app, state)
    if front_end is not None:
        seed_first_visit_settings(state.services.engine.folders.user)
        app.router.add_routes(front_end_routes(front_end))
    return app

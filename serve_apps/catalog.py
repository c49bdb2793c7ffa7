"""The model applications rayfleet ships: what the Serve config renderer must know about each.

    >>> from serve_apps.catalog import app_spec
    >>> app_spec("serve_apps.digits:app").deployment
    'Digits'

Serve's config names deployments inside an application, so the renderer needs
each app's deployment name; apps that load a model artifact get its URI as
the `modelUri` argument of their builder.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.errors import RayfleetError

#: File name of the digits artifact in a models directory or bucket prefix (see serve_apps/digits/model.py).
DIGITS_ARTIFACT = "digits-v1.json"


@dataclass(frozen=True)
class AppSpec:
    import_path: str
    #: The one deployment of the application (the class name unless `@serve.deployment(name=...)`).
    deployment: str
    #: Artifact file the app loads, passed as `args.modelUri` = `<models base>/<artifact>`.
    model_artifact: str | None = None
    #: A request `rayfleet local up` sends to check the app answers, and (key, value) its answer must have.
    smoke_request: dict | None = None
    smoke_expect: tuple[str, object] | None = None


#: The first image of load_digits (a 0), inlined so smoke tests need no scikit-learn.
ZERO_IMAGE = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
    0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
]


KNOWN_APPS: dict[str, AppSpec] = {
    spec.import_path: spec
    for spec in (
        AppSpec(
            "serve_apps.sentiment:app",
            "Sentiment",
            smoke_request={"text": "rayfleet makes this easy and I love it"},
            smoke_expect=("label", "positive"),
        ),
        AppSpec(
            "serve_apps.digits:app",
            "Digits",
            model_artifact=DIGITS_ARTIFACT,
            smoke_request={"pixels": ZERO_IMAGE},
            smoke_expect=("digit", 0),
        ),
    )
}


def app_spec(import_path: str) -> AppSpec:
    try:
        return KNOWN_APPS[import_path]
    except KeyError:
        known = ", ".join(sorted(KNOWN_APPS))
        raise RayfleetError(
            f"rayfleet:serve.applications importPath '{import_path}' is not an application rayfleet ships "
            f"(known: {known}). Fix: use one of those, or add an AppSpec for it to serve_apps/catalog.py"
        ) from None

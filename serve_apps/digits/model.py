"""The digits model: train it deterministically, write it as a versioned artifact, load it from a URI.

    >>> from serve_apps.digits.model import build_model, load_model
    >>> path = build_model(Path("~/.rayfleet/models").expanduser())   # models/digits-v1.json
    >>> load_model(path.as_uri()).version
    'v1+8c8508757697'

The artifact is JSON (the fitted logistic regression's classes, coefficients and
intercepts), not a pickle: it loads into any scikit-learn without unpickling
code from a bucket, and training always writes the same bytes (for a given scikit-learn and numpy), so
its version (the recipe plus a hash of the parameters) names exactly one model.
Training uses the first 1,500 of scikit-learn's bundled 1,797 `load_digits`
images; the last 297 are held back for evaluation (`held_back()`).
The artifact also carries `inputBaseline`, the distribution of the training
images' 64 pixels (serve_apps/monitoring.py), against which the app measures
the drift of the images it is sent; it travels with the model, so the two
never disagree.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from components.errors import RayfleetError

#: The training recipe; bump it when the recipe changes so new artifacts get a new name.
RECIPE = "v1"
#: File name of the artifact in a models directory or bucket prefix; the stack files name it as
#: `args.modelUri: ${models}/digits-v1.json`.
ARTIFACT_NAME = "digits-v1.json"
FORMAT = "rayfleet-digits/1"
TRAIN_SIZE = 1500
#: Quantile bins per pixel in the input baseline: PSI's usual 10.
BASELINE_BINS = 10
#: Pixel intensities of load_digits run 0..16.
PIXEL_MAX = 16.0


@dataclass(frozen=True)
class DigitsModel:
    """A loaded artifact: `predict_proba(pixels)` on an (n, 64) array of 0..16 values."""

    version: str
    classifier: object  # sklearn.linear_model.LogisticRegression
    #: The training inputs' distribution (serve_apps.monitoring.baseline_from); None in artifacts built before it.
    baseline: dict | None = None

    def predict_proba(self, pixels):
        import numpy as np

        return self.classifier.predict_proba(np.asarray(pixels, dtype=float) / PIXEL_MAX)


#: The first image of load_digits (a 0), inlined so tests and the stack files' smokeRequest need no scikit-learn.
ZERO_IMAGE = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
    0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
]


def ensure_models(names: list[str], models_dir: Path, on_build=lambda name: None) -> list[str]:
    """Make sure each model file `names` lists is in `models_dir`: the digits artifact is built when
    missing (this module trains it); any other file must be put there by its owner. The ones built."""
    built = []
    for name in dict.fromkeys(names):
        if (models_dir / name).is_file():
            continue
        if name != ARTIFACT_NAME:
            raise RayfleetError(f"model file {models_dir / name} is missing (an application's args name "
                                f"'${{models}}/{name}'). Fix: copy the file there")
        on_build(name)
        build_model(models_dir)
        built.append(name)
    return built


def held_back():
    """(pixels, labels) of the images training never sees: the last 297 of load_digits."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data[TRAIN_SIZE:], data.target[TRAIN_SIZE:]


def train_artifact() -> dict:
    """Fit the classifier and return the artifact document (deterministic: same inputs, same floats)."""
    import sklearn
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from serve_apps.monitoring import baseline_from

    data = load_digits()
    classifier = LogisticRegression(C=5.0, max_iter=5000, tol=1e-6, random_state=0)
    classifier.fit(data.data[:TRAIN_SIZE] / PIXEL_MAX, data.target[:TRAIN_SIZE])
    params = {
        "classes": [int(c) for c in classifier.classes_],
        "coef": [[float(x) for x in row] for row in classifier.coef_],
        "intercept": [float(x) for x in classifier.intercept_],
    }
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return {
        "format": FORMAT,
        "version": f"{RECIPE}+{digest}",
        "trainedOn": f"sklearn.datasets.load_digits()[:{TRAIN_SIZE}]",
        "sklearnVersion": sklearn.__version__,
        **params,
        "inputBaseline": baseline_from(data.data[:TRAIN_SIZE].tolist(), bins=BASELINE_BINS),
    }


def build_model(models_dir: Path, *, force: bool = False) -> Path:
    """Write `models_dir/digits-v1.json` unless it is already there; return its path."""
    path = Path(models_dir) / ARTIFACT_NAME
    if path.is_file() and not force:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(train_artifact(), sort_keys=True, indent=1) + "\n"
    # Written under a temporary name then renamed, so a replica never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".digits-", suffix=".json")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
    return path


def read_uri(uri: str) -> bytes:
    """The bytes at a `file://` or `s3://` URI (s3 through boto3, honouring AWS_ENDPOINT_URL)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise RayfleetError(
                f"modelUri {uri}: no such file. Fix: run 'rayfleet serve build-models', or correct modelUri"
            )
        return path.read_bytes()
    if parsed.scheme == "s3":
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = boto3.client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
            return body.read()
        except (BotoCoreError, ClientError) as err:
            raise RayfleetError(
                f"modelUri {uri}: cannot read it from S3 ({err}). Fix: upload the artifact "
                "('rayfleet serve deploy' does) and let the cluster's role read the bucket"
            ) from None
    raise RayfleetError(f"modelUri {uri!r}: scheme must be file:// or s3://. Fix: write it like 'file:///path/{ARTIFACT_NAME}'")


def parse_artifact(raw: bytes, source: str) -> DigitsModel:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from serve_apps.monitoring import check_baseline

    try:
        doc = json.loads(raw)
        if doc.get("format") != FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, expected {FORMAT!r}")
        classifier = LogisticRegression()
        classifier.classes_ = np.array(doc["classes"])
        classifier.coef_ = np.array(doc["coef"], dtype=float)
        classifier.intercept_ = np.array(doc["intercept"], dtype=float)
        if classifier.coef_.shape != (len(doc["classes"]), 64):
            raise ValueError(f"coef has shape {classifier.coef_.shape}, expected ({len(doc['classes'])}, 64)")
        baseline = doc.get("inputBaseline")
        if baseline is not None and len(check_baseline(baseline, "inputBaseline")["features"]) != 64:
            raise ValueError(f"inputBaseline has {len(baseline['features'])} features, expected 64")
        return DigitsModel(version=str(doc["version"]), classifier=classifier, baseline=baseline)
    except (ValueError, KeyError, TypeError) as err:
        raise RayfleetError(
            f"modelUri {source}: not a digits artifact ({err}). Fix: rebuild it with 'rayfleet serve build-models'"
        ) from None


def load_model(uri: str) -> DigitsModel:
    return parse_artifact(read_uri(uri), uri)

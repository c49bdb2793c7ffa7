"""8x8 handwritten digits, scikit-learn logistic regression. Import path: `serve_apps.digits:app`.

    curl -s localhost:8000/digits -d '{"pixels": [0, 0, 5, 13, 9, 1, 0, 0, ...64 numbers in 0..16]}'
    {"digit": 0, "probabilities": [0.98, ...], "modelVersion": "v1+..."}

The model is built by `rayfleet serve build-models` (serve_apps/digits/model.py);
replicas load it from the builder argument `modelUri` (file:// or s3://).
"""

from serve_apps.digits.app import Digits, app

__all__ = ["Digits", "app"]

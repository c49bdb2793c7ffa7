"""Ray Serve model applications, the Serve config renderer, the deployer and the local cluster.

    serve_apps.sentiment:app   text sentiment (vaderSentiment), batched
    serve_apps.digits:app      8x8 digit classifier (scikit-learn), batched, loaded from modelUri

Importing this package is cheap; the apps import Ray only in their own modules.
"""

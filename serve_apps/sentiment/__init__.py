"""Text sentiment with vaderSentiment's packaged lexicon. Import path: `serve_apps.sentiment:app`.

    curl -s localhost:8000/sentiment -d '{"text": "I love this"}'
    {"label": "positive", "score": 0.6369, "scores": {"neg": 0.0, "neu": 0.323, "pos": 0.677, "compound": 0.6369}}
"""

from serve_apps.sentiment.app import Sentiment, app

__all__ = ["Sentiment", "app"]

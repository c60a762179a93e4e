"""Custom Rasa NLU components of the production pipeline (bot/config.yml).

They run in the Rasa environment (`.venv-rasa`). Rasa imports them by module path, so the
repository root must be on its import path: run `rasa` with the repository root as working
directory, or with PYTHONPATH=<repository root>.

- `minilm_featurizer.MiniLMFeaturizer`: all-MiniLM-L6-v2 sentence and token vectors (TensorFlow).
- `linear_knn_classifier.LinearKnnIntentClassifier`: calibrated linear SVM + nearest example.

This module imports nothing, so `bot.components.linear_knn` and `sentence_encoder` stay
importable (and testable) without Rasa.
"""

"""Custom Rasa components of the production config (bot/config.yml): NLU and policies.

They run in the Rasa environment (`.venv-rasa`). Rasa imports them by module path, so the
repository root must be on its import path: run `rasa` with the repository root as working
directory, or with PYTHONPATH=<repository root>.

- `message_limit.MessageLengthLimit`: NLU reads at most `max_chars` characters of a message.
- `minilm_featurizer.MiniLMFeaturizer`: all-MiniLM-L6-v2 sentence and token vectors (TensorFlow).
- `linear_knn_classifier.LinearKnnIntentClassifier`: calibrated linear SVM + nearest example.
- `fresh_state_policies.TEDPolicy` / `.MemoizationPolicy`: Rasa's policies, trained on the
  dialogue states a live conversation has (Rasa 3.6's cached training states are stale after a
  form's happy path; see docs/conversation-design.md, "Dialogue policies").

This module imports nothing, so `bot.components.linear_knn` and `sentence_encoder` stay
importable (and testable) without Rasa.
"""

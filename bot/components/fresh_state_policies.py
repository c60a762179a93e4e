"""`TEDPolicy` and `MemoizationPolicy` trained on the dialogue states Rasa predicts with.

Rasa 3.6 builds its training trackers (`TrackerWithCachedStates`) event by event and keeps a
cache of their dialogue states, one state appended per action. The featurizers read that cache
for the states but take the labels from `tracker.applied_events()`, which hides the form's happy
path (a form that runs again after the user filled the slot it asked for replaces its previous
run). The cache does not hide it, so in every story with a multi-turn form the states run ahead of
the labels and the policies learn "after state S comes the action that really came later".
At prediction time the states come from `applied_events()`, so the live tracker never looks like
what the policies were trained on.

Measured on this project (docs/conversation-design.md, "Dialogue policies"): 481 of the 519 story
trackers had stale cached states, and with them no classifier could fit more than 77% of TED's
training examples (identical histories with different next actions); TEDPolicy stopped at 0.48
training accuracy with a loss that grew from 4.7 to 41.

The policies below drop the cache before they featurize, so the states are recomputed from
`applied_events()`, exactly as at prediction time. Nothing else changes: same parameters, same
featurizers, same persisted model format (they load as the classes below).

Serving: TED's prediction is a pure function of the dialogue states it featurizes (the last
`max_history` states: intents, entities, slots, active loop, previous action; no dropout at
inference), and a customer-service assistant sees the same few state windows over and over.
`TEDPolicy` keeps the predictions of the last `prediction_cache_size` distinct windows
(default 4096, 0 turns it off), keyed by those states, so a window it has seen costs a dict
lookup instead of a TensorFlow call (TED was ~30 % of the Rasa server's CPU per turn in the
chat-latency profile). End-to-end predictions (from the user's text) and entity predictions
are never cached.

Loading these policies also installs `bot.components.action_response` (action-server responses
validated with one compiled JSON-schema validator).

Used in bot/config.yml:

    - name: bot.components.fresh_state_policies.TEDPolicy
    - name: bot.components.fresh_state_policies.MemoizationPolicy
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from typing import Any, Dict, List, Optional  # noqa: UP035 - Rasa's graph validation compares these

from rasa.core.featurizers.precomputation import MessageContainerForCoreFeaturization
from rasa.core.policies.memoization import MemoizationPolicy as RasaMemoizationPolicy
from rasa.core.policies.policy import PolicyPrediction, SupportedData
from rasa.core.policies.ted_policy import TEDPolicy as RasaTEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

from bot.components import action_response

action_response.install()

#: Distinct dialogue-state windows whose TED prediction is kept (least recently used dropped).
DEFAULT_PREDICTION_CACHE_SIZE = 4096


def drop_cached_states(trackers: list[DialogueStateTracker]) -> int:
    """Clear the state cache of each training tracker (recomputed from its events on next use).

    Returns how many trackers had a cache. The trackers are otherwise unchanged, so policies that
    share them (trained before or after) see the same, correct, states.
    """
    cleared = 0
    for tracker in trackers:
        if isinstance(tracker, TrackerWithCachedStates):
            tracker.clear_states()
            cleared += 1
    return cleared


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True
)
class TEDPolicy(RasaTEDPolicy):
    """Rasa's TEDPolicy, featurizing training trackers from their applied events, with its
    predictions cached by dialogue-state window (see the module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:  # noqa: UP006
        return {**RasaTEDPolicy.get_default_config(),
                "prediction_cache_size": DEFAULT_PREDICTION_CACHE_SIZE}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prediction_cache: OrderedDict[str, PolicyPrediction] = OrderedDict()

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[str, Any]] = None,  # noqa: UP006, UP007
        precomputations: Optional[MessageContainerForCoreFeaturization] = None,  # noqa: UP007
        **kwargs: Any,
    ) -> PolicyPrediction:
        size = int(self.config.get("prediction_cache_size", 0) or 0)
        if self.model is None or size <= 0:
            return super().predict_action_probabilities(
                tracker, domain, rule_only_data, precomputations, **kwargs)
        cache = self._prediction_cache
        key = self._state_key(tracker, domain, rule_only_data)
        cached = cache.get(key)
        if cached is not None:
            cache.move_to_end(key)
            return _copy_prediction(cached)
        prediction = super().predict_action_probabilities(
            tracker, domain, rule_only_data, precomputations, **kwargs)
        if not prediction.is_end_to_end_prediction and not prediction.optional_events:
            cache[key] = _copy_prediction(prediction)
            if len(cache) > size:
                cache.popitem(last=False)
        return prediction

    def _state_key(
        self, tracker: DialogueStateTracker, domain: Domain,
        rule_only_data: Optional[Dict[str, Any]],  # noqa: UP006, UP007
    ) -> str:
        """The dialogue states TED featurizes for this prediction (as in `_featurize_tracker`:
        the intent version, plus the text version after a user message of an e2e model)."""
        text_too = (tracker.latest_action_name == ACTION_LISTEN_NAME
                    and TEXT in self.fake_features and not self.only_e2e)
        variants = [self.only_e2e, True] if text_too else [self.only_e2e]
        ml_only = self.supported_data() == SupportedData.ML_DATA
        states = [
            self.featurizer.prediction_states(
                [tracker], domain, use_text_for_last_user_input=use_text,
                ignore_rule_only_turns=ml_only, rule_only_data=rule_only_data,
                ignore_action_unlikely_intent=ml_only,
            )[0]
            for use_text in variants
        ]
        return json.dumps(states, sort_keys=True, default=list)

    def train(
        self,
        training_trackers: List[TrackerWithCachedStates],  # noqa: UP006
        domain: Domain,
        precomputations: Optional[MessageContainerForCoreFeaturization] = None,  # noqa: UP007
        **kwargs: Any,
    ) -> Resource:
        drop_cached_states(training_trackers)
        return super().train(training_trackers, domain, precomputations, **kwargs)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class MemoizationPolicy(RasaMemoizationPolicy):
    """Rasa's MemoizationPolicy, remembering the states the live tracker will have."""

    def train(
        self,
        training_trackers: List[TrackerWithCachedStates],  # noqa: UP006
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        drop_cached_states(training_trackers)
        return super().train(training_trackers, domain, **kwargs)


def _copy_prediction(prediction: PolicyPrediction) -> PolicyPrediction:
    """A prediction that shares nothing mutable with the cached one."""
    duplicate = copy.copy(prediction)
    duplicate.probabilities = list(prediction.probabilities)
    duplicate.events = list(prediction.events)
    return duplicate

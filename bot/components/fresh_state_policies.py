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

Used in bot/config.yml (and tests/bot/dev_config.yml):

    - name: bot.components.fresh_state_policies.TEDPolicy
    - name: bot.components.fresh_state_policies.MemoizationPolicy
"""

from __future__ import annotations

from typing import Any, List, Optional  # noqa: UP035 - Rasa's graph validation compares these

from rasa.core.featurizers.precomputation import MessageContainerForCoreFeaturization
from rasa.core.policies.memoization import MemoizationPolicy as RasaMemoizationPolicy
from rasa.core.policies.ted_policy import TEDPolicy as RasaTEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker


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
    """Rasa's TEDPolicy, featurizing training trackers from their applied events."""

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

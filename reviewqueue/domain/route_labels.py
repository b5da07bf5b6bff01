"""What each route means for one model, in its own words.

The stored route values stay the same for every model (``review``, ``auto_flag``, ``auto_pass``: queries, metrics
and migrations rely on them), but they were named after fraud: a loan model's confident "decline" is stored as
``auto_flag`` and its confident "approve" as ``auto_pass``, and "auto_pass" on a declined applicant reads as the
opposite of what happened. So every place that shows a route to a person shows its label instead::

    review     → "review"              (a person decides)
    auto_flag  → "auto: <positive verdict>"   e.g. "auto: fraud", "auto: decline"
    auto_pass  → "auto: <negative verdict>"   e.g. "auto: legit", "auto: approve"

— the verdict the automatic decision records — unless the model declares its own,
``rq.model(..., route_labels={"auto_flag": "auto-declined", "auto_pass": "auto-approved"})``.
"""

from __future__ import annotations

from collections.abc import Mapping

from reviewqueue.domain.policies import Route
from reviewqueue.errors import ConfigurationError

__all__ = ["MAX_LABEL_LENGTH", "route_labels"]

MAX_LABEL_LENGTH = 40


def route_labels(model: str, positive_verdict: str, negative_verdict: str,
                 declared: Mapping[str, str] | None = None) -> dict[str, str]:
    """Route value → label for one model: derived from its verdicts, then its declared labels on top.

    A declared key that is not a route, or a label that is empty, longer than ``MAX_LABEL_LENGTH``, has
    control characters or repeats another route's label (two routes would read the same), is refused at import.
    """
    labels = {Route.REVIEW.value: "review", Route.AUTO_FLAG.value: f"auto: {positive_verdict}",
              Route.AUTO_PASS.value: f"auto: {negative_verdict}"}
    where = f"model {model!r}: route_labels"
    if declared is None:
        return labels
    if not isinstance(declared, Mapping):
        raise ConfigurationError(f"{where} must be a mapping such as {{'auto_flag': 'auto-declined'}}")
    for route, label in declared.items():
        if route not in labels:
            raise ConfigurationError(f"{where}: {route!r} is not a route; the routes are "
                                     f"{', '.join(r.value for r in Route)}")
        if (not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_LENGTH
                or label != label.strip() or not label.isprintable()):
            raise ConfigurationError(f"{where}[{route!r}] must be 1-{MAX_LABEL_LENGTH} printable characters "
                                     f"without surrounding spaces, got {label!r}")
        labels[route] = label
    if len(set(labels.values())) != len(labels):
        raise ConfigurationError(f"{where}: two routes would show the same label ({labels}); give each its own")
    return labels

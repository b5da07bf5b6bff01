"""Pure domain rules: no I/O, no framework. Routing, priority, retry and item/action states."""

from reviewqueue.domain.policies import ExpectedLoss, RetryPolicy, Route, RoutingPolicy, ScorePriority

__all__ = ["ExpectedLoss", "RetryPolicy", "Route", "RoutingPolicy", "ScorePriority"]

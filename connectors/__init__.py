"""Connectors: the side effects a decision fires, each a small class behind `connectors.base.Connector`."""

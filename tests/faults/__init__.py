"""The fault suite: injected crashes, dropped connections, provider storms, database restarts and hostile
input, with every effect counted where it lives (localstripe, the sink, the business database)."""

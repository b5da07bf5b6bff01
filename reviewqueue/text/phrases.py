"""Seed phrasings for a self-harm concern model's zero-shot version (issue 3), and a small calibration set.

These are a starting point written by an engineer from common warning signs (intent, plans, self-injury,
hopelessness, being a burden, saying goodbye) — not a clinical instrument. A model module declares its own
``ZeroShot(positive=…, negative=…, calibration=…)``; clinicians should review and replace these. The tests and
the benchmark use them, and keep their *evaluation* messages disjoint from everything here.
"""

from __future__ import annotations

__all__ = ["SEED_CALIBRATION", "SEED_CONCERN", "SEED_NO_CONCERN"]

SEED_CONCERN: tuple[str, ...] = (
    "I want to end my life",
    "I have been thinking about hurting myself",
    "I don't want to be alive anymore",
    "I am thinking about suicide",
    "I have been cutting myself",
    "everyone would be better off without me",
    "I feel hopeless and I want to die",
    "I have a plan to kill myself",
)

# Ordinary patient messages: the administrative and routine clinical traffic that makes up most of the inbox.
SEED_NO_CONCERN: tuple[str, ...] = (
    "I need to reschedule my appointment",
    "my prescription refill please",
    "can you send me my test results",
    "I have a question about my bill",
    "what time does the clinic open",
    "thank you for your help yesterday",
    "I need a sick note for work",
    "my knee is still sore after the sprain",
)

SEED_CALIBRATION: tuple[tuple[str, int], ...] = (
    ("Lately I keep thinking that dying would be easier than this.", 1),
    ("I took more pills than I should have on purpose last night.", 1),
    ("I don't see the point of going on any more.", 1),
    ("I hurt myself again over the weekend and I'm scared I'll do worse.", 1),
    ("I've started giving my things away because I won't need them.", 1),
    ("Nobody would notice if I disappeared for good.", 1),
    ("Could I move my Thursday appointment to next week?", 0),
    ("The pharmacy says my repeat prescription hasn't been sent.", 0),
    ("Is it normal for the new tablets to make me a bit sleepy?", 0),
    ("Please update my address, I've moved house.", 0),
    ("I'd like to book a flu jab.", 0),
    ("My son has a rash, can someone take a look?", 0),
)

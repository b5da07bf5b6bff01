"""Hand-written messages for the text-model tests: disjoint from the seed phrases and calibration set
(reviewqueue.text.phrases) so the zero-shot evaluation is not scored on what it was built from."""

# Clearly concerning: intent, plan or means, self-injury, burden, goodbyes, command hallucinations.
EVAL_CONCERN = (
    "I can't cope anymore and I've been thinking about killing myself.",
    "Last night I cut my arms again, it's the only thing that helps.",
    "I have saved up my sleeping pills and I plan to take them all this weekend.",
    "I just want to go to sleep and never wake up.",
    "My family would be better off if I wasn't here.",
    "I wrote goodbye letters to my kids yesterday.",
    "I keep thinking about jumping off the bridge near my house.",
    "Life feels pointless and I've been hurting myself to feel something.",
    "I don't think I'll still be around by the end of the month.",
    "The voices tell me to harm myself and I'm starting to listen.",
)

# Ordinary inbox traffic; the last two use violent idioms ("dying to", "killing me") on purpose.
EVAL_ORDINARY = (
    "Hi, I need to cancel my appointment on Monday, something came up at work.",
    "Can you renew my blood pressure medication? I have three days left.",
    "What were the results of my cholesterol test?",
    "The parking machine at the clinic took my money without printing a ticket.",
    "I'd like to switch to a female doctor if possible.",
    "My asthma inhaler is running low, please send a new prescription to the pharmacy.",
    "Is the clinic open on the bank holiday?",
    "Thanks for fitting me in last week, the antibiotics worked.",
    "I'm dying to know whether my allergy test came back.",
    "My back pain is killing me after the move, can I get physio?",
)

_LONG = ("I am writing about my husband's care plan, which we discussed with the nurse on Tuesday; "
         "he still needs help with his medication, his meals and getting to the hospital for physiotherapy. ") * 12

# Export equality: different lengths in one batch (so padding matters), casing, accents, emoji, digits,
# an empty string, and one text past 256 word pieces (truncation must match transformers').
FIXED_TEXTS = (
    "",
    "ok",
    "Thanks!",
    "I NEED TO TALK TO SOMEONE TODAY",
    "Café crème, naïve résumé — ünïcödé test.",
    "my appointment is at 10:30 on 2024-03-05, room 12B",
    "🙂 feeling better, thank you 🙏",
    "I want to end my life",
    "Could you send my repeat prescription to the pharmacy on Main Street?",
    "The new tablets make me dizzy and I can't sleep; should I stop taking them?",
    "I have been thinking about hurting myself a lot lately and I do not know who to tell.",
    "Please cancel.",
    "   leading and trailing spaces   ",
    "line one\nline two\ttabbed",
    "Is the COVID-19 booster available for over-65s at the Elm Road surgery?",
    "why does nobody call me back?!?!",
    "I've been feeling low since my mum died, but I'm managing with my friends' help.",
    "x " * 40,
    "Question about invoice #44821: the amount charged (€125.50) doesn't match the estimate.",
    _LONG,
)

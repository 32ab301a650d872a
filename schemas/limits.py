"""How long each field of a record may be: the one source for the contract and the forms.

`records.py` builds its types from these numbers and the terminal's checks and input
fields read the same ones. They sit apart from `records.py` because the capture form
needs them at start-up, and importing the records loads msgspec (about 40 ms, paid in
a worker instead). Stdlib only, like the rest of schemas/.
"""

from __future__ import annotations

# Identities and codes
MAX_ID = 32  # store and terminal ids
MAX_CODE = 64  # taxonomy codes: channel, category, outcome
MAX_ASSOCIATE = 12  # an associate's code

# An ask
MAX_TEXT = 300
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_VALUE = 60
MAX_SUBSTITUTE = 200
MAX_QUANTITY = 9999
MAX_NOTE = 1000
MAX_VOID_REASON = 200

# A customer and their preferences
MAX_NAME = 100
MAX_PHONE = 32
MAX_EMAIL = 254
MAX_CUSTOMER_NUMBER = 40
MAX_CONSENT_WORDING = 40
MAX_WORDS = 12  # sizes, colours, brands: entries
MAX_WORD = 40  # ... and the length of each
MAX_CONTACT_TIME = 60
MAX_PREFERENCE_NOTES = 500

# A follow-up
MAX_FOLLOW_UP_NOTE = 500

# HQ's answer about a demand group
MAX_RESPONSE_NOTE = 200  # read out at the counter: a sentence, not a letter

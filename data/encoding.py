"""How a name is encoded, shared by every layer: model name, features, special tokens, lengths.

A leaf: it imports nothing from the project, and pipeline/, components/, serving/ and namegen/
may all import it. The pipeline's defaults (presets, gate, paths) stay in pipeline/configs.py.
"""

from __future__ import annotations

MODEL_NAME = "names"  # the served model: <serving dir>/names/<version>/

NAME_FEATURE = "name"  # raw feature written by ExampleGen
IDS_FEATURE = "ids"  # transformed: character ids + end-of-name, padded to SEQUENCE_LENGTH
LENGTH_FEATURE = "length"  # transformed: characters in the name
LONGEST_FEATURE = "longest_name"  # transformed: tft.max of LENGTH_FEATURE over the train split
VOCAB_NAME = "chars"  # tft vocabulary filename

PAD_TOKEN = "<pad>"
EON_TOKEN = "<eon>"  # end of name; also fed as the start token
RESERVED_TOKENS = (PAD_TOKEN, EON_TOKEN)  # they take ids 0 and 1
PAD_ID = 0
EON_ID = 1
NUM_OOV_BUCKETS = 1  # one id after the vocabulary for characters never seen in training

MAX_NAME_LENGTH = 32  # names longer than this are dropped (and counted) by ExampleGen
SEQUENCE_LENGTH = MAX_NAME_LENGTH + 1  # room for end-of-name

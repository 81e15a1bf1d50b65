"""The training toolkit built on the layers.

``nn`` (Linear, Embedding), ``losses``, ``optim`` (SGD, Adam, AdamW, Adagrad,
RMSprop, penalties), ``clip`` (gradient clipping), ``init`` (initializers per
gate block), ``models`` (Sequential, SequenceClassifier, SequenceTagger,
Seq2Seq), ``tbptt`` (truncated BPTT), ``io`` (save/load).
"""

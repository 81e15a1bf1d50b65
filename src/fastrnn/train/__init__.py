"""The training toolkit built on the layers.

Read bottom-up:

* ``nn`` (``Linear``, ``Embedding``), ``losses``;
* ``optimizer`` (the ``Optimizer`` base) -> ``optim`` (SGD, Adam, AdamW,
  Adagrad, RMSprop, penalties); ``scheduler`` (the ``LRScheduler`` base) ->
  ``lr_scheduler`` (``fastrnn.optim.lr_scheduler``); ``clip`` (gradient clipping);
  ``initializers`` (per gate block) -> ``init`` (named schemes for layers);
* ``registry`` (describe and rebuild modules) -> ``containers`` (``Model``,
  ``Sequential``) -> ``patterns`` (``SequenceClassifier``,
  ``SequenceTagger``) and ``seq2seq`` (``Seq2Seq``) -> ``models`` (all of
  them, ``fastrnn.models``);
* ``tbptt`` (truncated BPTT); ``files`` (atomic writes) -> ``io``
  (save/load);
* ``callbacks`` (``EarlyStopping``, ``ModelCheckpoint``, ``History``) ->
  ``fit`` (the training loop, ``fastrnn.fit``);
* ``distributed``: data-parallel training over MPI.
"""

"""A stand-in for issue 12's ``layer.stream`` (a pytest plugin), for the harness tests only.

``python -m pytest bench/test_streaming.py -p bench_stream_standin`` (with tests/ on
PYTHONPATH) gives fastrnn's layers a ``stream(batch_size=N)`` built on ``forward`` with a
carried state, so the streaming table's harness runs before the real API exists. Its
numbers mean nothing; nothing outside tests/ uses it.
"""


class StandInStream:
    """``step(x_t)`` = ``layer.forward(x_t[None], state, train=False)``, the state carried;
    ``packed_nbytes`` = the bytes of the layer's parameters."""

    def __init__(self, layer, batch_size):
        self.layer, self.batch_size, self.state = layer, batch_size, None
        self.packed_nbytes = sum(p.nbytes for p in layer.params.values())

    def step(self, x_t):
        y, self.state = self.layer.forward(x_t[None], self.state, train=False)
        return y[0]


def install():
    """Give fastrnn's SRN, LSTM and GRU the stand-in ``stream`` (if they have none)."""
    import fastrnn
    for cls in (fastrnn.SRN, fastrnn.LSTM, fastrnn.GRU):
        if not hasattr(cls, "stream"):
            cls.stream = lambda self, batch_size: StandInStream(self, batch_size)


def pytest_configure(config):
    install()

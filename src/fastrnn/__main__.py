"""The ``python -m fastrnn`` command line (also installed as ``fastrnn``).

Commands:

* ``demo``: train a character-level language model (Embedding -> LSTM ->
  Linear) on a small corpus shipped with the package, by truncated BPTT with
  Adam and gradient clipping (``fastrnn.fit``), with a progress bar; print
  the loss falling, the time per step and a sample of generated text.
  ``--save`` writes the model for ``sample``. Under ``mpiexec -n K`` (K > 1)
  it trains data-parallel (``--distributed``), each rank on 1/K of the
  streams.
* ``sample``: generate text from a model saved by ``demo --save``.
* ``info``: version, engines (the C engine's threads and kernels), NumPy's
  BLAS, optional dependencies.
* ``gradflow``, ``lag``: the long-term-dependency lab's experiments
  (``fastrnn.lab.experiments``): gradient flow against lag, and success on
  the adding problem against lag, as tables, CSV and figures.

``python -m fastrnn <command> --help`` lists each command's options.

Every error a user can cause (a bad option, a missing or malformed file, an
unavailable engine) prints one line ``fastrnn: error: ...`` on stderr and
exits with status 2; an interrupt (Ctrl-C) prints ``fastrnn: interrupted``
and exits with 130.

Importing this module runs nothing: ``main()`` runs under ``python -m
fastrnn`` and from the installed ``fastrnn`` script.
"""

import argparse
import contextlib
import math
import sys
import time

import numpy as np

import fastrnn
from fastrnn import data as _data
from fastrnn import experiments as lab


def _progress(total, enabled, desc):
    """A tqdm bar, or a plain fallback printing a few lines when tqdm is missing."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            return tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, leave=True)
    return _PlainProgress(total, desc, verbose=enabled)


class _PlainProgress:
    """What the demo needs of tqdm: update, set_postfix, close (prints ~10 lines)."""

    def __init__(self, total, desc, verbose=True):
        self.total, self.desc, self.n, self.verbose = total, desc, 0, verbose
        self.every = max(1, total // 10)
        self.postfix = ""
        if verbose:
            print(f"{desc}: 0/{total} (install tqdm for a progress bar)", flush=True)

    def set_postfix(self, **kw):
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def update(self, n=1):
        self.n += n
        if self.verbose and (self.n % self.every == 0 or self.n == self.total):
            print(f"{self.desc}: {self.n}/{self.total} {self.postfix}", flush=True)

    def close(self):
        pass


@contextlib.contextmanager
def _threads(n):
    """Run with n threads: the C engine's, and NumPy's BLAS through threadpoolctl when
    installed. None or 0 leaves both as they are (the engine: every CPU available)."""
    if not n:
        yield
        return
    previous = fastrnn.set_num_threads(n)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield
        else:
            with threadpool_limits(limits=n, user_api="blas"):
                yield
    finally:
        fastrnn.set_num_threads(previous)


def _char_model(vocab_size, cell, hidden, embed, dtype, seed):
    layer = {"lstm": fastrnn.LSTM, "gru": fastrnn.GRU, "srn": fastrnn.SRN}[cell]
    kw = {"init": {"forget_bias": 1.0}} if cell == "lstm" else {}
    return fastrnn.Sequential(
        fastrnn.Embedding(vocab_size, embed, dtype=dtype, seed=seed),
        layer(embed, hidden, dtype=dtype, seed=seed + 1, **kw),
        fastrnn.Linear(hidden, vocab_size, dtype=dtype, seed=seed + 2),
    )


def generate(model, vocab, prompt, length, temperature=1.0, rng=None):
    """Sample characters from a character model, one at a time.

    The recurrent layer runs as a stream: the prompt as one chunk, then one
    step per character, its weights packed once.

    Parameters
    ----------
    model : Sequential
        ``Embedding -> recurrent layer -> Linear`` over ``vocab`` (the demo's
        model), time-major.
    vocab : sequence of str
        The characters, by id.
    prompt : str
        Text the sample continues (characters outside ``vocab`` are dropped;
        empty: ``vocab[0]``).
    length : int
        The number of characters to generate.
    temperature : float, default 1.0
        Divides the logits before the softmax (lower: more likely characters).
    rng : None, int or numpy.random.Generator, optional
        The sampling's seed.

    Returns
    -------
    str
        The (filtered) prompt followed by ``length`` sampled characters.
    """
    rng = np.random.default_rng(rng)
    embedding, rnn, head = model[0], model[1], model[2]
    index = {c: i for i, c in enumerate(vocab)}
    prompt = "".join(c for c in prompt if c in index) or vocab[0]
    ids = np.array([index[c] for c in prompt], dtype=np.int64)[:, None]     # (T, 1)
    stream = rnn.stream(batch_size=1)
    y = stream.run(embedding.forward(ids, train=False))[-1]                 # (1, H)
    out = []
    for _ in range(length):
        z = head.forward(y, train=False)[0].astype(np.float64) / max(temperature, 1e-6)
        p = np.exp(z - z.max())
        k = int(rng.choice(len(vocab), p=p / p.sum()))
        out.append(vocab[k])
        y = stream.step(embedding.forward(np.array([k]), train=False))
    return prompt + "".join(out)


def _batchify(ids, batch):
    """Split a 1-d id stream into ``batch`` parallel streams: (L, batch), time-major."""
    L = len(ids) // batch
    return ids[:L * batch].reshape(batch, L).T.copy()


def cmd_demo(args):
    """The ``demo`` command: train a character-level model (module doc).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``demo`` options (``build_parser``).

    Returns
    -------
    int
        The exit status: 0, or 2 after an MPI setup error.

    Raises
    ------
    UsageError, OSError, ValueError, ImportError
        For a bad corpus or option; ``main`` prints them as one line.
    """
    with _threads(args.threads):
        return _demo(args)


def _data_parallel(args):
    """(``fastrnn.train.distributed`` or None, error or None): the demo's --distributed choice.

    Default (None): data-parallel exactly when an MPI launcher started more
    than one process (read from its environment, so a plain run never
    imports mpi4py); ``--distributed`` forces it (even for one rank),
    ``--no-distributed`` turns it off (every rank then trains alone).
    """
    from .train import distributed
    wanted = args.distributed
    if wanted is None:
        wanted = distributed.launched_by_mpiexec() > 1
    if not wanted:
        return None, None
    try:
        distributed.require_mpi()
    except ImportError as exc:
        return None, str(exc)
    return distributed, None


class _DemoRun(fastrnn.callbacks.Callback):
    """The demo's part of the training loop: the all-reduce under MPI, the progress bar, the
    losses, and the stop after ``steps`` steps or ``max_time`` seconds (rank 0 decides)."""

    def __init__(self, steps, max_time, bar, dp):
        self.steps, self.max_time, self.bar, self.dp = steps, max_time, bar, dp
        self.losses, self.smooth, self.step, self.chars, self.t0 = [], None, 0, 0, None

    def on_train_begin(self):
        if self.dp:
            self.dp.comm.Barrier()    # the ranks start their clocks together
        self.t0 = time.perf_counter()

    def on_after_backward(self, step, logs):
        if self.dp:
            self.dp.allreduce_grads()

    def on_batch_end(self, step, logs):
        loss = logs["loss"]
        self.losses.append(loss)
        self.chars += logs["size"]    # the window's new steps x streams
        self.smooth = loss if self.smooth is None else 0.95 * self.smooth + 0.05 * loss
        self.step = step
        self.bar.set_postfix(loss=f"{self.smooth:.3f}")
        self.bar.update(1)
        stop = step >= self.steps or time.perf_counter() - self.t0 > self.max_time
        if self.dp:                   # rank 0 decides, so every rank stops at the same step
            stop = self.dp.broadcast(stop)
        return stop


def _demo(args):
    dist, error = _data_parallel(args)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.backend:
        fastrnn.set_backend(args.backend)
    dtype = np.dtype(args.dtype)
    if args.corpus:
        with open(args.corpus, encoding="utf-8") as f:
            text = f.read()
        source = args.corpus
    else:
        text, source = _data.corpus(), "the shipped corpus (fastrnn/data/lighthouse.txt)"
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index[c] for c in text], dtype=np.int64)
    batch = min(args.batch, max(1, (len(ids) - 1) // (args.seq_len + 1)))
    if dist:                          # equal shards: the global batch a multiple of the ranks
        ranks = dist.require_mpi().COMM_WORLD.Get_size()
        batch -= batch % ranks
        if batch < ranks:
            print(f"error: --batch: expected at least one stream per rank ({ranks}), "
                  f"got {args.batch}", file=sys.stderr)
            return 2
    streams = _batchify(ids, batch)
    if streams.shape[0] < 2:
        raise UsageError(f"--corpus: the corpus ({len(ids)} characters) is too short")
    x, y = streams[:-1], streams[1:]
    model = _char_model(len(vocab), args.cell, args.hidden, args.embed, dtype, args.seed)
    opt = fastrnn.optim.Adam(model, lr=args.lr)
    dp = None
    if dist:                          # rank 0's weights everywhere; 1 thread per rank per core
        dp = dist.DataParallel(model, optimizer=opt,
                               num_threads=None if args.threads else "auto")
        x, y = dp.shard(x, axis=1), dp.shard(y, axis=1)
    say = print if not args.quiet and (dp is None or dp.is_root) else (lambda *a, **k: None)
    say(f"fastrnn {fastrnn.__version__} demo: character-level language model, "
        f"{args.cell.upper()} engine={fastrnn.get_backend()}")
    say(f"corpus: {source}: {len(text)} characters, vocabulary {len(vocab)}; "
        f"{batch} streams x {x.shape[0]} steps, windows of {args.seq_len} (truncated BPTT)")
    say(f"model: Embedding({len(vocab)}, {args.embed}) -> {args.cell.upper()}({args.embed}, "
        f"{args.hidden}) -> Linear({args.hidden}, {len(vocab)}), "
        f"{model.num_parameters} parameters, {dtype.name}; Adam lr={args.lr}, clip {args.clip}")
    if dp:
        say(f"data-parallel over MPI: {dp.size} ranks x {x.shape[1]} streams; the gradients "
            f"averaged every step (progress: rank 0's loss)")
    bar = _progress(args.steps, not args.no_progress and not args.quiet
                    and (dp is None or dp.is_root), "training")
    run = _DemoRun(args.steps, args.max_time, bar, dp)
    # one epoch of fit: one pass over the streams from a zero state, one step per window
    windows = -(-x.shape[0] // args.seq_len)
    fastrnn.fit(model, fastrnn.softmax_cross_entropy, opt, [(x, y)],
                epochs=-(-args.steps // windows), clip=args.clip, callbacks=[run],
                tbptt=args.seq_len, progress=False)
    elapsed = time.perf_counter() - run.t0
    bar.close()
    losses, step, chars = run.losses, run.step, run.chars
    if dp:                            # the loss over the global batch: the mean of equal shards
        losses = list(np.mean(dp.gather(losses), axis=0))
    if step < args.steps:
        say(f"stopped after {step} of {args.steps} steps: --max-time {args.max_time:g} s reached")
    k = max(1, min(20, len(losses) // 10))
    first, last = float(losses[0]), float(np.mean(losses[-k:]))
    say(f"loss (cross-entropy per character, nats): {first:.3f} at step 1 -> {last:.3f} "
        f"over the last {k} of {len(losses)} steps (a uniform guess: {math.log(len(vocab)):.3f})")
    say(f"time per step: {1000 * elapsed / max(1, len(losses)):.1f} ms "
        f"({len(losses)} steps in {elapsed:.1f} s, {batch}x{args.seq_len} characters per step)")
    if dp:
        rates = dp.gather(chars / elapsed)
        for r, rate in enumerate(rates):
            say(f"rank {r}: {rate:,.0f} characters/s ({x.shape[1]} streams)")
        say(f"all {dp.size} ranks: {sum(rates):,.0f} characters/s")
    if dp is None or dp.is_root:
        sample = generate(model, vocab, args.prompt, args.sample_length, args.temperature,
                          rng=args.seed)
        say(f"sample (temperature {args.temperature}):\n{'-' * 60}\n{sample}\n{'-' * 60}")
    if args.save:
        meta = {"vocab": "".join(vocab), "cell": args.cell, "demo": True}
        if dp:
            dp.save(model, args.save, meta=meta)
        else:
            fastrnn.save(model, args.save, meta=meta)
        say(f"saved the model to {args.save} (python -m fastrnn sample {args.save})")
    if not (last < first) and (dp is None or dp.is_root):
        print("warning: the loss did not fall; try more --steps or another --lr",
              file=sys.stderr)
    return 0


def cmd_sample(args):
    """The ``sample`` command: print text generated from a ``demo --save`` checkpoint.

    Parameters
    ----------
    args : argparse.Namespace
        ``checkpoint``, ``prompt``, ``length``, ``temperature``, ``seed``.

    Returns
    -------
    int
        0.

    Raises
    ------
    UsageError
        For a checkpoint that is not the demo's character model.
    OSError, ValueError
        For a missing or malformed file.
    """
    header = fastrnn.io.read_header(args.checkpoint)
    meta = header.get("meta") or {}
    vocab = meta.get("vocab") if isinstance(meta, dict) else None
    if not isinstance(vocab, str) or not vocab:
        raise UsageError(f"{args.checkpoint}: no vocabulary in its meta; it was not written by "
                         "'python -m fastrnn demo --save'")
    model = fastrnn.load(args.checkpoint)
    first = model[0] if isinstance(model, fastrnn.Sequential) else None
    if not isinstance(first, fastrnn.Embedding) or first.num_embeddings != len(vocab):
        raise UsageError(f"{args.checkpoint}: expected the character model of "
                         f"'python -m fastrnn demo --save' (a Sequential from an Embedding of "
                         f"{len(vocab)} characters), got a {type(model).__name__}")
    print(generate(model, list(meta["vocab"]), args.prompt, args.length, args.temperature,
                   rng=args.seed))
    return 0


def cmd_info(args):
    """The ``info`` command: print the version, the engines, NumPy's BLAS and optional packages.

    Parameters
    ----------
    args : argparse.Namespace
        Unused.

    Returns
    -------
    int
        0.
    """
    print(f"fastrnn {fastrnn.__version__}")
    print(f"backend: {fastrnn.get_backend()} (C engine available: "
          f"{fastrnn.c_engine_available()})")
    engine = fastrnn.core.threads.engine_threads_info()
    if engine["isa"] is not None:
        print(f"C engine: {engine['threads']} threads (FASTRNN_NUM_THREADS / "
              f"fastrnn.set_num_threads; {engine['workers_started']} workers started), "
              f"kernels for {engine['isa']}, its own matrix products (no BLAS)")
    print(f"numpy {np.__version__}")
    print(f"BLAS (NumPy's, used by the numpy engine): {_blas_description()}")
    for mod in ("tqdm", "torch"):
        try:
            m = __import__(mod)
            print(f"{mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            print(f"{mod}: not installed")
    return 0


def _blas_description():
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (pip install threadpoolctl to see it)"
    found = [f"{i.get('internal_api')} {i.get('version') or ''} ({i.get('num_threads')} "
             f"threads, {i.get('filepath')})" for i in threadpoolctl.threadpool_info()
             if i.get("user_api") == "blas"]
    return "; ".join(found) or "none found"


class UsageError(Exception):
    """An error the user caused: printed as one line ``fastrnn: error: ...``, exit status 2.

    Parameters
    ----------
    message : str
        What was wrong, naming the option or file.
    """


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors (``fastrnn: error: ...``, status 2)."""

    def error(self, message):
        raise UsageError(f"{message} (see: {self.prog} --help)")


def build_parser():
    """The command line's parser, with every command and option.

    Returns
    -------
    argparse.ArgumentParser
        Its ``error`` raises ``UsageError`` instead of exiting; each command
        sets ``func`` (``cmd_demo``, ...) to the function that runs it.

    Examples
    --------
    >>> args = build_parser().parse_args(["demo", "--steps", "5", "--cell", "gru"])
    >>> args.command, args.steps, args.cell, args.func.__name__
    ('demo', 5, 'gru', 'cmd_demo')
    """
    p = _Parser(
        prog="python -m fastrnn",
        description="fastrnn: SRN, LSTM and GRU for NumPy with exact BPTT.",
        epilog="Start with: python -m fastrnn demo")
    sub = p.add_subparsers(dest="command", metavar="command")

    d = sub.add_parser("demo", help="train a character-level LSTM language model (10-45 s)",
                       description="Train a character-level language model on a small corpus "
                                   "by truncated BPTT, then print a generated sample.")
    d.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    d.add_argument("--max-time", type=float, default=45.0, metavar="SECONDS",
                   help="stop training early after this many seconds (default 45)")
    d.add_argument("--cell", choices=("lstm", "gru", "srn"), default="lstm",
                   help="recurrent cell (default lstm)")
    d.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
    d.add_argument("--embed", type=int, default=32, help="embedding size (default 32)")
    d.add_argument("--batch", type=int, default=32, help="parallel streams (default 32)")
    d.add_argument("--seq-len", type=int, default=32,
                   help="truncated-BPTT window in characters (default 32)")
    d.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (default 5e-3)")
    d.add_argument("--clip", type=float, default=1.0, help="max gradient norm (default 1.0)")
    d.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    d.add_argument("--threads", type=int, default=None,
                   help="threads of the engine (and of NumPy's BLAS, via threadpoolctl when "
                        "installed); default: every CPU this process may use, shared among "
                        "the ranks of a machine under MPI")
    d.add_argument("--backend", choices=("c", "numpy"), default=None,
                   help="engine (default: the current one, C when built)")
    d.add_argument("--corpus", default=None, help="a UTF-8 text file (default: the shipped one)")
    d.add_argument("--prompt", default="The keeper", help="text the sample starts from")
    d.add_argument("--sample-length", type=int, default=300, help="characters to generate")
    d.add_argument("--temperature", type=float, default=0.7, help="sampling temperature")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--save", default=None, metavar="PATH", help="save the trained model (.npz)")
    d.add_argument("--distributed", action=argparse.BooleanOptionalAction, default=None,
                   help="data-parallel over MPI: each rank trains on its share of the streams "
                        "(default: on when mpiexec started more than one process; needs "
                        "pip install 'fastrnn[mpi]')")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.add_argument("--quiet", action="store_true", help="print nothing but errors")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("sample", help="generate text from a model saved by 'demo --save'")
    s.add_argument("checkpoint", help="the .npz written by demo --save")
    s.add_argument("--prompt", default="The ")
    s.add_argument("--length", type=int, default=300)
    s.add_argument("--temperature", type=float, default=0.7)
    s.add_argument("--seed", type=int, default=None)
    s.set_defaults(func=cmd_sample)

    i = sub.add_parser("info", help="version, engines and optional dependencies")
    i.set_defaults(func=cmd_info)
    lab.add_gradflow_arguments(sub.add_parser(
        "gradflow", help=lab.GRADFLOW_HELP, description=lab.GRADFLOW_DESCRIPTION)
    ).set_defaults(func=lab.cmd_gradflow)
    lab.add_lag_arguments(sub.add_parser(
        "lag", help=lab.LAG_HELP, description=lab.LAG_DESCRIPTION)
    ).set_defaults(func=lab.cmd_lag)
    return p


def _positive(parser, args, names):
    for name in names:
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            parser.error(f"--{name.replace('_', '-')}: expected a number > 0, got {value}")


def _one_line(exc):
    """The message of an error as one line (an OSError as 'strerror: filename')."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + ("" if exc.filename is None else f": {exc.filename!r}")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv=None):
    """Run the command line; returns the exit status (0, or 2 after an error, 130 if interrupted).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status. Errors the user can cause are printed as one line
        ``fastrnn: error: ...`` on stderr, never as a traceback.
    """
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        _positive(parser, args, ("steps", "hidden", "embed", "batch", "seq_len", "lr", "clip",
                                 "sample_length", "length", "temperature", "max_time"))
        return args.func(args)
    except KeyboardInterrupt:
        print("fastrnn: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            raise                      # --help, or an exit status set on purpose
        message = str(exc.code)        # the lab commands' SystemExit("--lags: ...")
    except (UsageError, OSError, ValueError, ImportError) as exc:
        message = _one_line(exc)
    print(f"fastrnn: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

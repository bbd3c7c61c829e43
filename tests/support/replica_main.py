"""``python -m tests.support.replica_main TRAIN-FLAGS``: ``deeprelax train`` with the test
scaffolding registered through the library's hooks: ``--dataset synthetic`` is the synthetic data
set, ``--model tiny-mlp`` the tiny MLP, and ``DEEPRELAX_FAULT_INJECT`` the SIGKILL fault.

Launched by torchrun in the tests (``torchrun ... -m tests.support.replica_main --model tiny-mlp
--dataset synthetic --optim parle ... --out OUT``); the flags are those of ``deeprelax train``.
"""

from __future__ import annotations

import sys

from deeprelax.cli import build_parser
from deeprelax.cli._common import set_threads
from deeprelax.cli.train import train_kwargs
from deeprelax.experiments.run import train

from .fault import fault_hook
from .smoke import smoke_data, smoke_model


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    set_threads(args.threads)
    options = train_kwargs(args)
    train(
        **options,
        data=smoke_data(options["dataset"] or ""),
        model_factory=smoke_model,
        closure_hook=fault_hook(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
